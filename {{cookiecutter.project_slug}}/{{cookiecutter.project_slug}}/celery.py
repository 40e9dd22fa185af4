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
app.config_from_object("{{ cookiecutter.project_slug }}.settings")
# Keeps the worker's liveness file fresh for the healthcheck.
app.steps["worker"].add(WorkerLiveness)
