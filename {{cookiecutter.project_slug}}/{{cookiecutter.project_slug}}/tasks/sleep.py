"""A task that only waits: the load test's default, so its figures measure the stack, not the work."""

import time

from ..celery import app


@app.task
def sleep(milliseconds: int = 0) -> int:
    """Wait `milliseconds` (0: return at once), then return them."""
    time.sleep(milliseconds / 1000)
    return milliseconds
