"""The liveness files behind the healthchecks: their deadlines move ahead while the processes work."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from {{ cookiecutter.project_slug }}.liveness import INTERVAL, LIVENESS_FILE

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def time_left(path: Path) -> float:
    """Seconds until the deadline the file's modification time holds: what the healthcheck reads."""
    return path.stat().st_mtime - time.time()


def test_the_worker_keeps_its_liveness_deadline_ahead(worker: str) -> None:
    assert 2 * INTERVAL - 1 <= time_left(LIVENESS_FILE) <= 3 * INTERVAL


def test_the_scheduler_keeps_its_liveness_deadline_ahead_and_writes_no_pidfile(tmp_path: Path) -> None:
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
        assert 2 * INTERVAL - 1 <= time_left(liveness_file) <= 3 * INTERVAL
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert not list(tmp_path.glob("*.pid")), "a pidfile would stop the next start"
