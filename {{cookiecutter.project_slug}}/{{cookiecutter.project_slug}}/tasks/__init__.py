"""Every task module. Add yours to this import so the worker registers it."""

from . import fetch, primes, sleep

__all__ = ("fetch", "primes", "sleep")
