"""Celery settings, read from the environment (documented in .env.example).

Every lowercase name in this module is a Celery setting; tests/test_settings.py checks that
Celery knows each one, because Celery silently ignores a misspelt setting.
Reference: https://docs.celeryq.dev/en/stable/userguide/configuration.html
"""

import os
from datetime import timedelta

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
# Reserve one message per process, so a long task does not sit on messages other workers could run.
worker_prefetch_multiplier = 1

# A task gets SoftTimeLimitExceeded at the soft limit (time to clean up); its process dies at the hard one.
# Short by default: split long work into several tasks{% if cookiecutter.broker == "redis" %}, or raise these with the visibility timeout{% endif %}.
task_soft_time_limit = int(os.getenv("CELERY_TASK_SOFT_TIME_LIMIT", "20"))
task_time_limit = int(os.getenv("CELERY_TASK_TIME_LIMIT", "25"))
{% if cookiecutter.broker == "redis" %}
# Redis redelivers a message nobody acked after the visibility timeout: that is how the tasks of a
# worker that died come back. It must exceed the hard time limit plus any countdown/ETA, or a task
# still running (or waiting) is delivered a second time; tests/test_settings.py checks every task.
# The restore sweep runs every 10 s (throttle 1: no skipped sweeps), so a dead worker's tasks come
# back within a minute: 40 s + at most 10 s.
broker_transport_options = {
    "visibility_timeout": int(os.getenv("CELERY_VISIBILITY_TIMEOUT", "40")),
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
{%- else %}
# RabbitMQ confirms each published task once it is stored: without confirms a send can drop silently.
# Queues are durable and messages persistent (Celery's defaults), so they survive a broker restart.
broker_transport_options = {"confirm_publish": True}
{%- endif %}
# Keep retrying the broker while it starts or restarts, instead of exiting.
broker_connection_retry_on_startup = True
# On broker connection loss, cancel running acks_late tasks: they are redelivered anyway.
worker_cancel_long_running_tasks_on_connection_loss = True
{% if cookiecutter.result_backend == "none" %}
# No result backend: tasks store nothing, so nobody can wait on a result.
task_ignore_result = True
{%- else %}
# Retry storing a result while the backend is unreachable, instead of losing it: with backoff
# (10 ms doubling to 10 s), up to 15 times. The database backend gives up after 3 quick tries
# unless the count is set; the task's hard time limit bounds the wait either way.
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
# The Redis result backend uses a visibility timeout too (for chords); keep it above the hard limit.
result_backend_transport_options = {"visibility_timeout": int(os.getenv("CELERY_VISIBILITY_TIMEOUT", "40"))}
{%- endif %}
{%- if cookiecutter.use_flower %}

# Events let Flower show tasks as they are sent, start and finish.
worker_send_task_events = True
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
