"""The Celery application: create it, load the settings, import the tasks, add the liveness probe."""

from celery import Celery

from .liveness import WorkerLiveness

app = Celery("{{ cookiecutter.project_slug }}", include=["{{ cookiecutter.project_slug }}.tasks"])
{%- if cookiecutter.result_backend == "postgresql" %}
# force: read settings.py now, so its override_backends is known before anything opens the backend
# (Celery takes CELERY_RESULT_BACKEND from the environment without reading the settings).
app.config_from_object("{{ cookiecutter.project_slug }}.settings", force=True)
{%- else %}
app.config_from_object("{{ cookiecutter.project_slug }}.settings")
{%- endif %}
# Keeps the worker's liveness file fresh for the compose healthcheck.
app.steps["worker"].add(WorkerLiveness)
