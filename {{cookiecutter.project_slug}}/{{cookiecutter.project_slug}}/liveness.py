"""Liveness files for the compose healthchecks.

The worker and the scheduler each touch a file while they work; a healthcheck only compares the
file's age with the clock. That costs a few milliseconds, where `celery inspect ping` imports
Celery and talks to the broker (about 0.25 s of CPU and 50 MB of memory per probe).
"""

import os
from pathlib import Path
from typing import Any

from celery import bootsteps
from celery.beat import PersistentScheduler

LIVENESS_FILE = Path(os.getenv("LIVENESS_FILE", "/tmp/celery.alive"))  # noqa: S108 (inside the container)
# The file is touched this often; the healthcheck allows three missed touches.
INTERVAL = 10.0


class WorkerLiveness(bootsteps.StartStopStep):
    """Touch the file from the worker's own timer: if the worker's event loop hangs, so does the touch."""

    requires = ("celery.worker.components:Timer",)

    def start(self, worker: Any) -> None:
        LIVENESS_FILE.touch()
        self.timer = worker.timer.call_repeatedly(INTERVAL, LIVENESS_FILE.touch)

    def stop(self, worker: Any) -> None:
        self.timer.cancel()
        LIVENESS_FILE.unlink(missing_ok=True)


class LivenessScheduler(PersistentScheduler):
    """celery beat's default scheduler, touching the file on every tick (at most INTERVAL apart)."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        LIVENESS_FILE.touch()
        return float(super().tick(*args, **kwargs))

    def close(self) -> None:
        super().close()
        LIVENESS_FILE.unlink(missing_ok=True)
