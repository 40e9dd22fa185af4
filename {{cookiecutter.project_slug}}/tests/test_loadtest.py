"""The load test (loadtest.py), run against a real worker with a small N."""

import json
import subprocess
import sys
{%- if cookiecutter.result_backend == "none" %}
import time
{%- endif %}
from typing import Any

from conftest import PROJECT_ROOT
{%- if cookiecutter.result_backend == "none" %}

from {{ cookiecutter.project_slug }}.celery import app
{%- endif %}


def loadtest(*options: str) -> dict[str, Any]:
    """Run it as `docker compose exec worker python -m ...` does; return its --json figures."""
    command = [sys.executable, "-m", "{{ cookiecutter.project_slug }}.loadtest", *options, "--json"]
    run = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert "sent 20" in run.stderr, "no progress shown"
    figures: dict[str, Any] = json.loads(run.stdout.splitlines()[-1])
    return figures
{%- if cookiecutter.result_backend != "none" %}


def test_the_load_test_waits_for_every_result_and_reports_throughput_and_latency(worker: str) -> None:
    figures = loadtest("-n", "20", "--args", "[10]", "--samples", "3")
    done = figures["throughput"]
    assert (done["tasks"], done["failed"]) == (20, 0)
    # 20 tasks of 10 ms on 2 processes take at least 0.1 s: it did wait for them.
    assert done["seconds"] >= 0.1
    assert done["tasks_per_second"] == done["tasks"] / done["seconds"]
    assert set(figures["latency_ms"]) == {"p50", "p95", "p99", "max"}
    assert 10 <= figures["latency_ms"]["p50"] <= figures["latency_ms"]["max"]
{%- else %}


def tasks_run(worker: str) -> int:
    stats = (app.control.inspect(destination=[worker], timeout=2).stats() or {}).get(worker)
    return int(stats["total"].get("{{ cookiecutter.project_slug }}.tasks.sleep.sleep", 0)) if stats else 0


def test_the_load_test_waits_until_the_queue_is_empty_and_reports_throughput(worker: str) -> None:
    before = tasks_run(worker)
    figures = loadtest("-n", "20", "--args", "[10]")
    done = figures["throughput"]
    assert done["tasks"] == 20
    # 20 tasks of 10 ms on 2 processes: at least 18 of them were done when the queue was empty.
    assert done["seconds"] >= 0.09
    assert "latency_ms" not in figures
    deadline = time.monotonic() + 10
    while tasks_run(worker) < before + 20:
        assert time.monotonic() < deadline, "the worker did not run the 20 tasks"
        time.sleep(0.2)
{%- endif %}
