"""The settings module holds only real Celery settings, and refuses to start without its secrets."""

import inspect
import os
import subprocess
import sys
from pathlib import Path

from celery.app.defaults import DEFAULTS

from {{ cookiecutter.project_slug }} import app, settings


def _setting_names() -> list[str]:
    return [
        name
        for name, value in vars(settings).items()
        if not name.startswith("_") and not inspect.ismodule(value) and not inspect.isclass(value)
    ]
{% if cookiecutter.result_backend == "postgresql" %}

# Celery's loader reads override_backends (a documented setting) itself; it has no default to list.
KNOWN = {*DEFAULTS, "override_backends"}
{%- else %}

KNOWN = set(DEFAULTS)
{%- endif %}


def test_every_name_in_settings_is_a_celery_setting() -> None:
    unknown = [name for name in _setting_names() if name not in KNOWN]
    assert unknown == [], f"Celery ignores these silently: {unknown}"


def test_the_app_uses_every_setting() -> None:
    for name in _setting_names():
        assert app.conf[name] == getattr(settings, name), name


{%- if cookiecutter.broker == "redis" %}


def test_no_task_outlives_the_visibility_timeout() -> None:
    """Redis hands a message to another worker when it has been unacknowledged this long: a task
    that runs (or waits for its retry countdown) longer would run twice at once."""
    visibility_timeout = settings.broker_transport_options["visibility_timeout"]
    assert visibility_timeout < 60, "a dead worker's tasks should come back within a minute"
    for name, task in app.tasks.items():
        if name.startswith("{{ cookiecutter.project_slug }}."):
            # Only tasks that set it have retry_backoff_max; Celery falls back to 600, as here.
            countdown = getattr(task, "retry_backoff_max", 600) if getattr(task, "autoretry_for", ()) else 0
            assert (task.time_limit or settings.task_time_limit) + countdown < visibility_timeout, name
{%- else %}


def test_rabbitmq_confirms_publishes_into_a_durable_queue() -> None:
    assert settings.broker_transport_options["confirm_publish"] is True
    queue = app.amqp.queues[settings.task_default_queue]
    assert queue.durable
    assert not queue.auto_delete
{%- endif %}


def test_a_missing_broker_url_stops_the_app_at_start_up() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    run = subprocess.run(
        [sys.executable, "-c", "import {{ cookiecutter.project_slug }}.settings"],
        cwd=Path(__file__).parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0
    assert "KeyError: 'CELERY_BROKER_URL'" in run.stderr
