"""Log lines as JSON objects (LOG_FORMAT=json, as .env sets it for the containers) or as Celery's text.

Celery sets up logging itself in each process it starts, the worker and beat (pool processes inherit
the worker's set-up when they fork), then sends after_setup_logger and after_setup_task_logger with
the loggers it configured. In JSON mode, celery.py connects use_json to both: every handler Celery
made gets the formatter below. Levels, handlers (stderr) and print() redirected to the log stay Celery's.
"""

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import celery.apps.worker
from celery import current_task
from celery.utils.log import get_multiprocessing_logger
from pythonjsonlogger.json import JsonFormatter

FORMATS = ("json", "text")
# Unset: text, for someone running celery in a terminal.
LOG_FORMAT = os.getenv("LOG_FORMAT") or "text"
if LOG_FORMAT not in FORMATS:
    raise ValueError(f"LOG_FORMAT is {LOG_FORMAT!r}.\nAllowed: json (a log pipeline) or text (a terminal).")


class TaskJsonFormatter(JsonFormatter):
    """One JSON object per record: time (UTC), level, logger, process, message, and any exception;
    inside a task also task_name and task_id, which Celery's text format shows as name[id]."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(processName)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "processName": "process"},
            timestamp="time",
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        if current_task and current_task.request.id:
            log_data["task_name"] = current_task.name
            log_data["task_id"] = current_task.request.id


def use_json(logger: logging.Logger, **_: Any) -> None:
    """after_setup_logger / after_setup_task_logger: the handlers Celery just made write JSON.

    Billiard's multiprocessing logger (errors about pool processes) is configured with the root
    logger, without a signal of its own: its handlers are done here too.
    """
    loggers = [logger, get_multiprocessing_logger()]
    for handler in [handler for each in loggers if each for handler in each.handlers]:
        handler.setFormatter(TaskJsonFormatter())


def say_json(message: str, file: TextIO | None = None) -> None:
    """What Celery writes past logging, from its signal handlers ("worker: Warm shutdown
    (MainProcess)"), as a JSON object too; with one os.write, as Celery's own safe_say, since a
    signal handler must not wait for a logging lock."""
    record = {"time": datetime.now(UTC).isoformat(), "level": "WARNING", "logger": "celery.apps.worker"}
    line = json.dumps({**record, "process": "MainProcess", "message": message.strip()}) + "\n"
    os.write((file or sys.stderr).fileno(), line.encode())


def json_from_the_start(**_: Any) -> None:
    """celeryd_init, sent before the worker sets up logging: what it warns about that early (such
    as running as root) is one JSON line too. Celery replaces this handler when it sets up its own."""
    handler = logging.StreamHandler()
    handler.setFormatter(TaskJsonFormatter())
    logging.getLogger().addHandler(handler)
    logging.captureWarnings(True)
    celery.apps.worker.safe_say = say_json  # type: ignore[attr-defined]  # celery-types lacks it
