"""{{ cookiecutter.project_slug }}: Celery tasks. `celery -A {{ cookiecutter.project_slug }}` finds the app here."""

from .celery import app

__all__ = ("app",)
