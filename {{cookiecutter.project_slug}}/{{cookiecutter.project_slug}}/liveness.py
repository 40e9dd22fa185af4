"""Liveness files for the healthchecks (compose.yaml, and any orchestrator's liveness probe).

The worker and the scheduler each touch a file every INTERVAL seconds, setting its modification
time to a deadline: now plus three intervals. The probe only checks that the deadline has not
passed, so it needs no threshold of its own, imports nothing of Celery and talks to no broker (a few
milliseconds, where `celery inspect ping` costs about 0.25 s of CPU and 50 MB per probe).

Live means "not stuck": a worker whose event loop hangs, or whose process is frozen, stops touching
the file and is restarted. A worker waiting for its broker is not stuck, but its event loop does not
turn while it reconnects: a thread touches the file then, and only then, so a broker outage of any
length restarts no worker.
"""

import os
import threading
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


# Set while the worker's consumer holds a broker connection (BrokerConnected runs between
# connecting and losing it); clear while it connects, at start or after a connection was lost.
connected = threading.Event()


class WorkerLiveness(bootsteps.StartStopStep):
    """Touch the file from the worker's own timer, so that if its event loop hangs, so does the touch;
    and from a thread while the consumer has no broker connection, when the event loop is not run."""

    requires = ("celery.worker.components:Timer",)

    def start(self, worker: Any) -> None:
        touch()
        self.timer = worker.timer.call_repeatedly(INTERVAL, touch)
        self.stopping = threading.Event()
        threading.Thread(target=self.while_connecting, name="liveness", daemon=True).start()

    def while_connecting(self) -> None:
        while not self.stopping.wait(INTERVAL):
            if not connected.is_set():
                touch()

    def stop(self, worker: Any) -> None:
        self.stopping.set()
        self.timer.cancel()
        LIVENESS_FILE.unlink(missing_ok=True)


class BrokerConnected(bootsteps.StartStopStep):
    """A consumer step: started once the broker connection is made, stopped when it is lost."""

    requires = ("celery.worker.consumer.connection:Connection",)

    def start(self, consumer: Any) -> None:
        connected.set()

    def stop(self, consumer: Any) -> None:
        connected.clear()

    shutdown = stop


class LivenessScheduler(PersistentScheduler):
    """celery beat's default scheduler, touching the file on every tick (at most INTERVAL apart)."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        touch()
        return float(super().tick(*args, **kwargs))

    def close(self) -> None:
        super().close()
        LIVENESS_FILE.unlink(missing_ok=True)
