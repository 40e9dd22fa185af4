"""Every task module. Add yours to this import so the worker registers it."""

from . import fetch, primes

__all__ = ("fetch", "primes")
