"""The Celery application: create it, load the settings, import the tasks, add the liveness probe,
hook JSON logs{% if cookiecutter.use_sentry %} and Sentry{% endif %} to Celery's signals."""

from celery import Celery, signals

from . import deadletter, logs  # noqa: F401 (deadletter connects its signal handlers on import)
{%- if cookiecutter.broker == "redis" %}
from .delays import MoveDueTasks
{%- endif %}
from .liveness import BrokerConnected, WorkerLiveness
{%- if cookiecutter.use_sentry %}
from .sentry import init_sentry
{%- endif %}

# Every task's base class: task.py says what it adds.
app = Celery(
    "{{ cookiecutter.project_slug }}",
    include=["{{ cookiecutter.project_slug }}.tasks"],
    task_cls="{{ cookiecutter.project_slug }}.task:Task",
)
{%- if cookiecutter.result_backend == "postgresql" %}
# force: read settings.py now, so its override_backends is known before anything opens the backend
# (Celery takes CELERY_RESULT_BACKEND from the environment without reading the settings).
app.config_from_object("{{ cookiecutter.project_slug }}.settings", force=True)
{%- else %}
app.config_from_object("{{ cookiecutter.project_slug }}.settings")
{%- endif %}
{%- if cookiecutter.result_backend == "postgresql" %}


@signals.worker_init.connect
def open_result_backend(**_: object) -> None:
    """Create the result backend in the worker before it forks its pool processes. They inherit
    its modules: none spends its first task importing SQLAlchemy (seconds on a busy machine,
    counted against the task's time limit). Its connections are made in each process, when used."""
    app.backend  # noqa: B018 (the property creates it)
{% endif %}

# Keep the worker's liveness file fresh for the healthcheck, also while it waits for its broker.
app.steps["worker"].add(WorkerLiveness)
app.steps["consumer"].add(BrokerConnected)
{%- if cookiecutter.broker == "redis" %}
# Move delayed tasks that are due from Redis's sorted set back to their queues (delays.py).
app.steps["worker"].add(MoveDueTasks)
{%- endif %}

# LOG_FORMAT=json: every line the worker, its pool processes and beat write is a JSON object.
if logs.LOG_FORMAT == "json":
    signals.celeryd_init.connect(logs.json_from_the_start)
    signals.after_setup_logger.connect(logs.use_json)
    signals.after_setup_task_logger.connect(logs.use_json)
{%- if cookiecutter.use_sentry %}

# Sentry (SENTRY_DSN): in the worker before it forks its pool processes, which inherit it; in beat.
signals.celeryd_init.connect(init_sentry)
signals.beat_init.connect(init_sentry)
{%- endif %}
