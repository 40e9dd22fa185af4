"""The liveness files behind the compose healthchecks: fresh while the worker and scheduler work."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from {{ cookiecutter.project_slug }}.liveness import INTERVAL, LIVENESS_FILE

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def age(path: Path) -> float:
    return time.time() - path.stat().st_mtime


def test_the_worker_keeps_its_liveness_file_fresh(worker: str) -> None:
    assert age(LIVENESS_FILE) <= INTERVAL + 1


def test_the_scheduler_keeps_its_liveness_file_fresh_and_writes_no_pidfile(tmp_path: Path) -> None:
    liveness_file = tmp_path / "beat.alive"
    command = [sys.executable, "-m", "celery", "-A", "{{ cookiecutter.project_slug }}", "beat"]
    command += [f"--schedule={tmp_path / 'celerybeat-schedule'}"]
    env = {**os.environ, "LIVENESS_FILE": str(liveness_file)}
    process = subprocess.Popen(command, cwd=tmp_path, env={**env, "PYTHONPATH": str(PROJECT_ROOT)})
    try:
        deadline = time.monotonic() + 30
        while not liveness_file.exists():
            assert process.poll() is None, "celery beat exited: see its log above"
            assert time.monotonic() < deadline, "celery beat wrote no liveness file within 30 s"
            time.sleep(0.2)
        time.sleep(INTERVAL + 1)
        assert age(liveness_file) <= INTERVAL + 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert not list(tmp_path.glob("*.pid")), "a pidfile would stop the next start"
