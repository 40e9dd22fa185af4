"""Liveness files for the healthchecks (compose.yaml, and any orchestrator's liveness probe).

The worker and the scheduler each touch a file every INTERVAL seconds, setting its modification
time to a deadline: now plus three intervals. The probe only checks that the deadline has not
passed, so it needs no threshold of its own, imports nothing of Celery and talks to no broker (a few
milliseconds, where `celery inspect ping` costs about 0.25 s of CPU and 50 MB per probe).
"""

import os
import time
from pathlib import Path
from typing import Any

from celery import bootsteps
from celery.beat import PersistentScheduler

LIVENESS_FILE = Path(os.getenv("LIVENESS_FILE", "/tmp/celery.alive"))  # noqa: S108 (inside the container)
# Seconds between touches; the healthcheck fails once three have been missed.
INTERVAL = 10.0


def touch() -> None:
    """Set the file's modification time to the moment by which it must be touched again."""
    LIVENESS_FILE.touch()
    deadline = time.time() + 3 * INTERVAL
    os.utime(LIVENESS_FILE, (deadline, deadline))


class WorkerLiveness(bootsteps.StartStopStep):
    """Touch the file from the worker's own timer: if the worker's event loop hangs, so does the touch."""

    requires = ("celery.worker.components:Timer",)

    def start(self, worker: Any) -> None:
        touch()
        self.timer = worker.timer.call_repeatedly(INTERVAL, touch)

    def stop(self, worker: Any) -> None:
        self.timer.cancel()
        LIVENESS_FILE.unlink(missing_ok=True)


class LivenessScheduler(PersistentScheduler):
    """celery beat's default scheduler, touching the file on every tick (at most INTERVAL apart)."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        touch()
        return float(super().tick(*args, **kwargs))

    def close(self) -> None:
        super().close()
        LIVENESS_FILE.unlink(missing_ok=True)
