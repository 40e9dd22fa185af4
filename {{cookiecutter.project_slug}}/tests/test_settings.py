"""The settings module holds only real Celery settings, and refuses to start without its secrets."""

import inspect
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from celery.app.defaults import DEFAULTS

from {{ cookiecutter.project_slug }} import app, settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def project_tasks() -> Iterator[tuple[str, Any]]:
    """The project's own tasks, not Celery's built-in ones."""
    for name, task in app.tasks.items():
        if name.startswith("{{ cookiecutter.project_slug }}."):
            yield name, task


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


def settings_with(**environment: str) -> dict[str, Any]:
    """The settings module as a process with these environment variables would load it."""
    code = "import json; from {{ cookiecutter.project_slug }} import settings as s; "
    code += "print(json.dumps({k: v for k, v in vars(s).items() if k.islower()}, default=str))"
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: dict[str, Any] = json.loads(run.stdout)
    return loaded


def test_every_duration_follows_from_the_one_time_limit() -> None:
    loaded = settings_with(CELERY_TASK_TIME_LIMIT="1200")
    assert loaded["task_time_limit"] == 1200
    assert loaded["task_soft_time_limit"] == 1080
{%- if cookiecutter.broker == "redis" %}
    assert loaded["broker_transport_options"]["visibility_timeout"] == 1200 + 30
{%- endif %}


def test_no_task_runs_longer_than_the_time_limit() -> None:
    """Every duration is derived from task_time_limit: a task allowed to run longer breaks them."""
    for name, task in project_tasks():
        assert (task.time_limit or settings.task_time_limit) <= settings.task_time_limit, name
        assert (task.soft_time_limit or 0) < (task.time_limit or settings.task_time_limit), name
{%- if cookiecutter.broker == "redis" %}


def test_redis_gives_a_message_back_once_no_task_could_still_be_running_it() -> None:
    """Delayed tasks wait in Redis (delays.py): a worker holds a message only while it runs."""
    assert settings.broker_transport_options["visibility_timeout"] == settings.task_time_limit + 30
{%- else %}


def test_rabbitmq_confirms_publishes_into_a_quorum_queue_with_a_dead_letter_route() -> None:
    assert settings.broker_transport_options["confirm_publish"] is True
    queue = app.amqp.queues[settings.task_default_queue]
    assert queue.durable and not queue.auto_delete
    assert queue.exchange.type == "topic", "native delayed delivery needs a topic exchange"
    assert queue.queue_arguments == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 20,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": f"{settings.task_default_queue}.dead",
    }
{%- endif %}


def test_a_missing_broker_url_stops_the_app_at_start_up() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    run = subprocess.run(
        [sys.executable, "-c", "import {{ cookiecutter.project_slug }}.settings"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0
    assert "KeyError: 'CELERY_BROKER_URL'" in run.stderr
