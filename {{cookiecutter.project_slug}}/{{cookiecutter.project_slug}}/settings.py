"""Celery settings, read from the environment (documented in .env.example).

Every lowercase name in this module is a Celery setting; tests/test_settings.py checks that
Celery knows each one, because Celery silently ignores a misspelt setting.
Reference: https://docs.celeryq.dev/en/stable/userguide/configuration.html
"""

import os
from datetime import timedelta
{%- if cookiecutter.broker == "rabbitmq" %}

from kombu import Exchange, Queue
{%- endif %}

# Connection URLs carry passwords: no defaults, so a missing one stops the process at start-up.
broker_url = os.environ["CELERY_BROKER_URL"]
{%- if cookiecutter.result_backend != "none" %}
result_backend = os.environ["CELERY_RESULT_BACKEND"]
{%- endif %}

timezone = os.getenv("CELERY_TIMEZONE", "{{ cookiecutter.timezone }}")
enable_utc = True

# Every task goes to the queue the worker consumes (compose.yaml: --queues).
task_default_queue = "{{ cookiecutter.queue_name }}"

# JSON only: a pickle payload from anyone who can write to the broker would run code in the worker.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

# Ack after the task ran, not before: a worker that dies mid-task leaves the message to redeliver.
task_acks_late = True
# ...and also when only the child process died (SIGKILL, OOM): else acks_late still loses the task.
task_reject_on_worker_lost = True
# A task whose process died is sent again as a retry: task.py makes that after seconds and at most
# three times, then it ends as a FAILURE, instead of killing process after process for ever.
# deadletter.py then puts a copy in the queue "<queue>.dead".
task_retry_on_worker_lost = True
# Reserve one message per process, so a long task does not sit on messages other workers could run.
worker_prefetch_multiplier = 1

# -- Time: one knob -----------------------------------------------------------------------------------
# CELERY_TASK_TIME_LIMIT (seconds) is the longest a task may run. Every other duration follows from
# it here, and in compose.yaml the worker's stop grace period (the limit + 30 s): README, "Time limits".
# Its process is killed at the limit; SoftTimeLimitExceeded is raised a tenth earlier, to clean up.
task_time_limit = int(os.getenv("CELERY_TASK_TIME_LIMIT", "300"))
task_soft_time_limit = task_time_limit * 9 // 10
{%- if cookiecutter.broker == "redis" %}
# Redis gives a message nobody acknowledged to another worker after the visibility timeout: that is
# how a dead worker's tasks come back. A worker holds a message unacknowledged only while it runs the
# task (delayed tasks wait in Redis: delays.py), so the time limit and 30 s to spare; kombu looks for
# such messages every 10 s (unacked_restore_throttle 1: each look scans; its defaults: every 100 s).
broker_transport_options = {
    "visibility_timeout": task_time_limit + 30,
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
{%- else %}
# RabbitMQ confirms each published task once it is stored: without confirms a send can drop silently.
broker_transport_options = {"confirm_publish": True}
# A quorum queue: durable and replicated, and with it RabbitMQ holds delayed tasks itself (Celery's
# native delayed delivery, which needs a topic exchange), so a countdown or ETA of any length never
# keeps a message unacknowledged on a worker past RabbitMQ's consumer_timeout (30 minutes). RabbitMQ
# also counts deliveries: a message whose worker died holding it 20 times goes to "<queue>.dead", as
# do the tasks deadletter.py sends there.
task_queues = (
    Queue(
        "{{ cookiecutter.queue_name }}",
        Exchange("{{ cookiecutter.queue_name }}", type="topic"),
        routing_key="{{ cookiecutter.queue_name }}",
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": 20,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "{{ cookiecutter.queue_name }}.dead",
        },
    ),
)
# Queues Celery creates by name (one you route a task to, a worker's --queues) are made the same way.
task_create_missing_queue_type = "quorum"
task_create_missing_queue_exchange_type = "topic"
{%- endif %}

# A pool process that has grown past this many KiB is replaced once its task is done, so a leak or
# one large task does not hold the memory for good. Keep WORKER_CONCURRENCY x this (plus about
# 150 MB for the worker itself) below the container's limit, WORKER_MEMORY_LIMIT in compose.yaml.
worker_max_memory_per_child = int(os.getenv("WORKER_MAX_MEMORY_PER_CHILD_MB", "256")) * 1024

# Keep retrying the broker while it starts or restarts, instead of exiting.
broker_connection_retry_on_startup = True
{%- if cookiecutter.broker == "redis" %}
# When the broker connection drops, running tasks carry on: their messages stay in Redis (which keeps
# them across a restart) and are acknowledged there once done. Cancelled, they would come back only
# after the visibility timeout.
worker_cancel_long_running_tasks_on_connection_loss = False
{%- else %}
# When the broker connection drops, RabbitMQ hands its unacknowledged messages to a worker again at
# once: cancel the running tasks (acks_late), which then run again, rather than run them twice.
worker_cancel_long_running_tasks_on_connection_loss = True
{%- endif %}
{% if cookiecutter.result_backend == "none" %}
# No result backend: tasks store nothing, so nobody can wait on a result.
task_ignore_result = True
{%- else %}
# Retry storing a result while the backend is unreachable, instead of losing it: with backoff
# (10 ms doubling to 10 s), up to 15 times. The database backend gives up after 3 quick tries
# unless the count is set; the task's time limit bounds the wait either way.
result_backend_always_retry = True
result_backend_max_retries = 15
# Store task name, args, worker and queue with each result: what you look for when a task misbehaves.
result_extended = True
{%- endif %}
{%- if cookiecutter.result_backend == "postgresql" %}
# db+postgresql URLs get results.py's backend: Celery's database backend (same table and columns)
# storing each result in one statement, and waking AsyncResult.get() with NOTIFY instead of polling.
override_backends = {"db": "{{ cookiecutter.project_slug }}.results:PostgresBackend"}
# Results older than this are deleted by beat's built-in celery.backend_cleanup task (daily, 04:00).
result_expires = timedelta(days=int(os.getenv("CELERY_RESULT_EXPIRES_DAYS", "7")))
{%- elif cookiecutter.result_backend == "redis" %}
# Results expire in Redis after this long (a key TTL: no cleanup task needed).
result_expires = timedelta(days=int(os.getenv("CELERY_RESULT_EXPIRES_DAYS", "1")))
{%- endif %}
{%- if cookiecutter.use_flower %}

# An event when a task is sent, too, so Flower shows tasks still waiting in the queue.
task_send_sent_event = True
{%- endif %}

# The scheduler touches a liveness file on each tick (see liveness.py), and ticks at least every 10 s.
beat_scheduler = "{{ cookiecutter.project_slug }}.liveness:LivenessScheduler"
beat_max_loop_interval = 10

# Periodic tasks, sent by the one `celery beat` process (the scheduler service).
beat_schedule = {
    "count-primes-every-minute": {
        "task": "{{ cookiecutter.project_slug }}.tasks.primes.count_primes",
        "schedule": timedelta(minutes=1),
        "args": (100_000,),
    },
}

# Observe: the worker sends an event as it receives, starts, finishes, fails or retries a task, and
# the exporter service turns them into Prometheus metrics{% if cookiecutter.use_flower %} (Flower shows them too){% endif %}. They cost
# about 1.3 ms of CPU per task (README: Observe). Heartbeats (workers up) are sent anyway.
worker_send_task_events = True
