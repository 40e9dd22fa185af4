"""The Celery application: create it, load the settings, import the tasks, add the liveness probe."""

from celery import Celery

from . import deadletter  # noqa: F401 (connects its signal handlers)
from .liveness import WorkerLiveness

{% if cookiecutter.broker == "redis" -%}
# task.py's base class refuses countdowns and ETAs the Redis broker cannot hold safely.
app = Celery(
    "{{ cookiecutter.project_slug }}",
    include=["{{ cookiecutter.project_slug }}.tasks"],
    task_cls="{{ cookiecutter.project_slug }}.task:Task",
)
{%- else -%}
app = Celery("{{ cookiecutter.project_slug }}", include=["{{ cookiecutter.project_slug }}.tasks"])
{%- endif %}
{%- if cookiecutter.result_backend == "postgresql" %}
# force: read settings.py now, so its override_backends is known before anything opens the backend
# (Celery takes CELERY_RESULT_BACKEND from the environment without reading the settings).
app.config_from_object("{{ cookiecutter.project_slug }}.settings", force=True)
{%- else %}
app.config_from_object("{{ cookiecutter.project_slug }}.settings")
{%- endif %}
# Keeps the worker's liveness file fresh for the healthcheck.
app.steps["worker"].add(WorkerLiveness)
