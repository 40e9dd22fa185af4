"""Dead letters: where a task ends up when its worker process died on every try.

settings.py has Celery retry such a task (task_retry_on_worker_lost) up to its max_retries; when the
last try dies too, Celery stores a FAILURE (WorkerLostError), and this module logs it at ERROR and
puts a copy, with the same id and arguments, in the queue "<queue>.dead", which no worker consumes.
Once the task is fixed, a worker on that queue replays them (README, "Reliability").
"""

import logging
from typing import Any

from billiard.exceptions import WorkerLostError
from celery import Celery, Task
from celery.signals import task_failure, worker_ready
from kombu import Queue

logger = logging.getLogger(__name__)


def dead_letter_queue(app: Celery) -> Queue:
    name = f"{app.conf.task_default_queue}.dead"
    return Queue(name, routing_key=name)


@worker_ready.connect
def declare_dead_letter_queue(sender: Any, **_: Any) -> None:
    """Make sure the queue exists before anything is sent there."""
    with sender.app.connection_for_write() as connection:
        dead_letter_queue(sender.app).bind(connection).declare()


@task_failure.connect
def send_to_dead_letter_queue(
    sender: Task[Any, Any], task_id: str, exception: BaseException, args: Any, kwargs: Any, **_: Any
) -> None:
    if not isinstance(exception, WorkerLostError):
        return  # an exception the task raised: its FAILURE says all
    queue = dead_letter_queue(sender.app)
    tries = sender.request.retries + 1
    logger.error(
        "%s[%s] stopped: its worker process died on each of its %d tries (%s). A copy is in the queue %s.",
        sender.name, task_id, tries, exception, queue.name,
    )  # fmt: skip
    sender.apply_async(args, kwargs, task_id=task_id, queue=queue)
