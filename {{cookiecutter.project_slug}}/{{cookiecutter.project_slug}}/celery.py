"""The Celery application: create it, load the settings, import the tasks. Nothing else."""

from celery import Celery

app = Celery("{{ cookiecutter.project_slug }}", include=["{{ cookiecutter.project_slug }}.tasks"])
app.config_from_object("{{ cookiecutter.project_slug }}.settings")
