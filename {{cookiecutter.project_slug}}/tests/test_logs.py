"""JSON logs, as the containers write them (LOG_FORMAT=json): every line a real worker, its pool
processes and beat write is one JSON object, and a task's lines carry the task's name and id."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import WebServer, start_worker, stop_worker

from {{ cookiecutter.project_slug }}.tasks.fetch import fetch_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Its own queue, so the session's worker leaves these tasks to the worker started here.
QUEUE = "{{ cookiecutter.queue_name }}-logs"


def read_log(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every line of a process's output: the JSON objects, and the lines that are not JSON."""
    records, others = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            others.append(line)
    return records, others


def wait_for_record(path: Path, **fields: object) -> None:
    """Wait until the log holds a JSON object with these fields."""
    deadline = time.monotonic() + 30
    while not any(fields.items() <= record.items() for record in read_log(path)[0]):
        assert time.monotonic() < deadline, f"no log line with {fields} within 30 s:\n{path.read_text()}"
        time.sleep(0.2)


@pytest.mark.usefixtures("services")
def test_a_worker_logging_json_writes_only_json_lines_with_the_task_on_its_own(
    tmp_path: Path, web: WebServer
) -> None:
    log = tmp_path / "worker.log"
    env = {**os.environ, "LOG_FORMAT": "json"}
    with log.open("wb") as output:
        process, _ = start_worker(QUEUE, env, "--loglevel=INFO", output=output)
        try:
            url = f"{web.url}/flaky/0/logs"  # answers 200 at once
            result = fetch_url.apply_async((url,), queue=QUEUE)
            wait_for_record(log, task_id=result.id, logger="celery.app.trace")  # "... succeeded in ..."
        finally:
            exit_code = stop_worker(process)
    assert exit_code == 0

    records, others = read_log(log)
    assert others == [], f"lines that are not JSON: {others}"
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    # The task's own line (get_task_logger), written in a pool process, names the task and its id.
    [line] = [record for record in records if record["message"] == f"GET {url} answered 200"]
    assert line["logger"] == "{{ cookiecutter.project_slug }}.tasks.fetch"
    assert line["level"] == "INFO"
    assert line["task_name"] == "{{ cookiecutter.project_slug }}.tasks.fetch.fetch_url"
    assert line["task_id"] == result.id
    assert line["process"].startswith("ForkPoolWorker-")
    # The worker's own lines (connected, ready) are JSON objects too, without a task.
    main = [record for record in records if record["process"] == "MainProcess"]
    assert any(record["message"].endswith(" ready.") for record in main), main
    assert not any("task_id" in record for record in main)
    # And what Celery prints itself when told to stop (SIGTERM), past logging.
    assert any(record["message"] == "worker: Warm shutdown (MainProcess)" for record in main), main


def test_beat_logging_json_writes_only_json_lines(tmp_path: Path) -> None:
    log = tmp_path / "beat.log"
    liveness_file = tmp_path / "beat.alive"
    command = [sys.executable, "-m", "celery", "-A", "{{ cookiecutter.project_slug }}", "--quiet", "beat"]
    command += [f"--schedule={tmp_path / 'celerybeat-schedule'}", "--loglevel=INFO"]
    env = {**os.environ, "LOG_FORMAT": "json", "LIVENESS_FILE": str(liveness_file)}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=output, stderr=output)
        try:
            wait_for_record(log, logger="celery.beat", message="beat: Starting...")
            # Stopped before its scheduler is set up, beat fails to save the schedule: wait for a tick.
            deadline = time.monotonic() + 30
            while not liveness_file.exists():
                assert time.monotonic() < deadline, "celery beat wrote no liveness file within 30 s"
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=30)
    assert exit_code == 0

    records, others = read_log(log)
    assert others == [], f"lines that are not JSON: {others}"
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records), records


def test_an_unknown_log_format_stops_the_app_at_start_up() -> None:
    run = subprocess.run(
        [sys.executable, "-c", "import {{ cookiecutter.project_slug }}"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0
    allowed = "Allowed: json (a log pipeline) or text (a terminal)."
    assert f"ValueError: LOG_FORMAT is 'xml'.\n{allowed}" in run.stderr
