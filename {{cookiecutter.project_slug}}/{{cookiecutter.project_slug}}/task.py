"""The base class of this project's tasks (celery.py): what every task here gets.

- A task whose pool process died (killed, out of memory) is retried after seconds, not after its
  default_retry_delay (180 s unless set), and at most WORKER_LOST_RETRIES times, whatever its
  max_retries (None would retry for ever): a one-off kill costs seconds, and a task that kills
  every process it runs in ends as a FAILURE, with a copy in the dead-letter queue (deadletter.py).
{%- if cookiecutter.broker == "redis" %}
- A task with a countdown or ETA waits in Redis until it is due, not in a worker (delays.py).
{%- endif %}
"""

from typing import Any

import celery
from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError
from celery.worker.request import Request as CeleryRequest

# Tries after the first when the pool process died: retried after 1, 2 and 4 seconds.
WORKER_LOST_RETRIES = 3


class Request(CeleryRequest):
    """How the worker runs a task: Celery's, with its own retry after a lost pool process."""

    def on_failure(
        self, exc_info: ExceptionInfo, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        """Celery's on_failure, which retries after a lost process (task_retry_on_worker_lost) with
        the task's default_retry_delay and max_retries: they are set for that one call."""
        task = self.task
        exc = getattr(exc_info.exception, "exc", exc_info.exception)  # billiard may wrap it
        if not isinstance(exc, WorkerLostError):
            return super().on_failure(exc_info, send_failed_event, return_ok)
        tries = int(self.request_dict.get("retries") or 0)
        saved = task.default_retry_delay, task.max_retries
        task.default_retry_delay = 2**tries
        task.max_retries = min(WORKER_LOST_RETRIES, saved[1] if saved[1] is not None else WORKER_LOST_RETRIES)
        try:
            return super().on_failure(exc_info, send_failed_event, return_ok)
        finally:
            task.default_retry_delay, task.max_retries = saved


class Task(celery.Task[Any, Any]):
    Request = "{{ cookiecutter.project_slug }}.task:Request"
{%- if cookiecutter.broker == "redis" %}
    Strategy = "{{ cookiecutter.project_slug }}.delays:strategy"
{%- endif %}
