"""A CPU-bound task: count primes with a plain sieve, inside soft and hard time limits."""

from math import isqrt

from ..celery import app

# The sieve holds one byte per number: this caps a task at 50 MB.
MAX_LIMIT = 50_000_000


@app.task(soft_time_limit=15, time_limit=20)
def count_primes(limit: int) -> int:
    """Return how many primes are below `limit`.

    At 15 s Celery raises SoftTimeLimitExceeded inside the task (catch it to clean up);
    at 20 s the worker kills the process. Both override the defaults in settings.py.
    """
    if not 0 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 0 and {MAX_LIMIT}, got {limit}")
    sieve = bytearray([1]) * limit
    for n in range(2, isqrt(limit) + 1):
        if sieve[n]:
            for multiple in range(n * n, limit, n):
                sieve[multiple] = 0
    return sum(sieve[2:])
