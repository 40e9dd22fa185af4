"""The base class of this project's tasks (celery.py): what every task here gets.

- A task whose pool process died (killed, out of memory) is retried after seconds, not after its
  default_retry_delay (180 s unless set), and at most WORKER_LOST_RETRIES times, whatever its
  max_retries (None would retry for ever): a one-off kill costs seconds, and a task that kills
  every process it runs in ends as a FAILURE, with a copy in the dead-letter queue (deadletter.py).
{%- if cookiecutter.broker == "redis" %}
- A countdown, ETA or retry delay longer than Redis can hold is refused when the task is sent.
  A worker keeps a delayed task's message unacknowledged until the task has run, and Redis gives
  such a message to another worker once the visibility timeout has passed (settings.py derives it
  from the time limit), so a longer delay would run the task twice. Schedule later work with beat,
  or raise CELERY_TASK_TIME_LIMIT.
{%- endif %}
"""
{% if cookiecutter.broker == "redis" %}
from datetime import UTC, datetime
{%- endif %}
from typing import Any

import celery
from billiard.einfo import ExceptionInfo, ExceptionWithTraceback
from billiard.exceptions import WorkerLostError
{%- if cookiecutter.broker == "redis" %}
from celery.result import AsyncResult
{%- endif %}
from celery.worker.request import Request as CeleryRequest
{%- if cookiecutter.broker == "redis" %}

from .settings import task_time_limit

# Seconds: the longest countdown, ETA or retry delay a task may have.
MAX_DELAY = task_time_limit
{%- endif %}

# Tries after the first when the pool process died: retried after 1, 2 and 4 seconds.
WORKER_LOST_RETRIES = 3
{%- if cookiecutter.broker == "redis" %}


class DelayTooLongError(ValueError):
    """The task would wait longer than the broker can hold it without delivering it twice."""
{%- endif %}


class Request(CeleryRequest):
    """How the worker runs a task: Celery's, with its own retry after a lost pool process."""

    def on_failure(
        self, exc_info: ExceptionInfo, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        """Celery's on_failure, which retries after a lost process (task_retry_on_worker_lost) with
        the task's default_retry_delay and max_retries: they are set for that one call."""
        task, exc = self.task, exc_info.exception
        if not isinstance(exc.exc if isinstance(exc, ExceptionWithTraceback) else exc, WorkerLostError):
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
    # Celery's default retry delay is 180 s: no more than MAX_DELAY.
    default_retry_delay = min(180, MAX_DELAY)

    def apply_async(self, *args: Any, **options: Any) -> AsyncResult[Any]:
        """Send the task, as Celery does, unless its countdown or ETA is beyond MAX_DELAY."""
        delay = float(options.get("countdown") or 0)
        eta = options.get("eta")
        if eta is not None:
            eta = datetime.fromisoformat(eta) if isinstance(eta, str) else eta
            eta = eta if eta.tzinfo else eta.replace(tzinfo=UTC)  # Celery reads a naive ETA as UTC
            delay = (eta - datetime.now(UTC)).total_seconds()
        if delay > MAX_DELAY:
            raise DelayTooLongError(
                f"{self.name}: a delay of {delay:.0f} s is longer than Redis can hold a task for without"
                f" running it twice.\n    Allowed: at most CELERY_TASK_TIME_LIMIT ({MAX_DELAY} s);"
                " raise it in .env, or schedule the task with beat."
            )
        return super().apply_async(*args, **options)
{%- endif %}
