"""Dead letters: where a task ends up when its worker process died on every try.

task.py has Celery retry such a task a few times; when the last try dies too, Celery stores a
FAILURE (WorkerLostError), and this module logs it at ERROR and puts a copy, with the same id and
arguments and the name of the queue it came from, in the queue "<queue>.dead", which no worker
consumes and which keeps the newest MAX_DEAD_LETTERS. Once the task is fixed, `make replay` sends
each back to its queue, once (README, "Reliability").
"""

import logging
{%- if cookiecutter.broker == "rabbitmq" %}
import re
{%- endif %}
from typing import Any

from billiard.exceptions import WorkerLostError
from celery import Celery, Task
from celery.signals import task_failure, worker_ready
from kombu import Queue
{%- if cookiecutter.broker == "redis" %}
from redis import Redis
{%- endif %}

logger = logging.getLogger(__name__)

# The most dead letters kept{% if cookiecutter.broker == "rabbitmq" %} (RabbitMQ drops the oldest){% endif %}: a flood of them cannot fill the broker.
MAX_DEAD_LETTERS = 10_000
# The message header naming the queue a dead letter came from, where replay sends it.
ORIGIN = "dead_letter_origin"


def dead_letter_queue(app: Celery) -> Queue:
    name = f"{app.conf.task_default_queue}.dead"
{%- if cookiecutter.broker == "redis" %}
    return Queue(name, routing_key=name)
{%- else %}
    # A quorum queue, as every queue here: RabbitMQ refuses a queue declared twice with other arguments.
    arguments = {"x-queue-type": "quorum", "x-max-length": MAX_DEAD_LETTERS, "x-overflow": "drop-head"}
    return Queue(name, routing_key=name, queue_arguments=arguments)
{%- endif %}


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
    # Celery routes by the queue's name{% if cookiecutter.broker == "rabbitmq" %}; a delayed retry's key starts with its delay, as 28 binary digits{% endif %}.
    origin = (sender.request.delivery_info or {}).get("routing_key") or sender.app.conf.task_default_queue
{%- if cookiecutter.broker == "rabbitmq" %}
    origin = re.sub(r"^(?:[01]\.){28}", "", origin)
{%- endif %}
    tries = sender.request.retries + 1
    logger.error(
        "%s[%s] stopped: its worker process died on each of its %d tries (%s). A copy is in the queue %s.",
        sender.name, task_id, tries, exception, queue.name,
    )  # fmt: skip
    sender.apply_async(args, kwargs, task_id=task_id, queue=queue, headers={ORIGIN: origin})
{%- if cookiecutter.broker == "redis" %}
    # Newest first in the list: keep the first MAX_DEAD_LETTERS.
    Redis.from_url(sender.app.conf.broker_url).ltrim(queue.name, 0, MAX_DEAD_LETTERS - 1)
{%- endif %}


def replay(app: Celery) -> int:
    """Send each dead letter back to the queue it came from (a fresh set of tries), marked as a
    replay; only those there when it starts, so one that dies again is not replayed twice."""
    queue = dead_letter_queue(app)
    replayed = 0
    with app.connection_for_write() as connection:
        bound = queue.bind(connection)
        declared: Any = bound.queue_declare()
        for _ in range(declared.message_count):
            message = bound.get(no_ack=False)
            if message is None:
                break
            args, kwargs, _embed = message.decode()
            headers = message.headers
            destination = headers.get(ORIGIN) or app.conf.task_default_queue
            app.send_task(
                headers["task"], args, kwargs, task_id=headers["id"], queue=destination,
                headers={"replayed": True}, connection=connection,
            )  # fmt: skip
            message.ack()
            replayed += 1
    return replayed
