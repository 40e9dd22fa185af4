"""The Celery application: create it, load the settings, import the tasks, add the liveness probe."""

from celery import Celery

from .liveness import WorkerLiveness

app = Celery("{{ cookiecutter.project_slug }}", include=["{{ cookiecutter.project_slug }}.tasks"])
app.config_from_object("{{ cookiecutter.project_slug }}.settings")
# Keeps the worker's liveness file fresh for the compose healthcheck.
app.steps["worker"].add(WorkerLiveness)
