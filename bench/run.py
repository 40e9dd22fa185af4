"""`make bench`: what storing results costs, side by side, on this machine.

Bakes four projects that differ only in where results go, all with the default Redis broker:
results ignored (`result_backend=none`), Celery's own database backend (the PostgreSQL bake with
its `override_backends` line removed), this template's PostgreSQL backend (the PostgreSQL bake as
generated) and Redis results. For each, one after the other, it starts the broker and backend
from compose.yaml (the services' own redis-server commands on free ports; for PostgreSQL, the
role and a fresh database from .env on the local server), runs the worker command from
compose.yaml verbatim with the environment compose would give it, and measures with the
project's own load test (`python -m <slug>.loadtest`, as `docker compose exec worker` runs it):
tasks per second for N tasks of 0 ms sent at once, and the result wait of tasks of 0 ms and
100 ms sent one at a time. Figures are from one run on one machine; compare the rows, not other
machines' figures. Not part of `make test`: timings in tests are flaky.

    python bench/run.py --tasks 2000 --rounds 3 --samples 100    # make bench
    python bench/run.py --tasks 50 --rounds 1 --samples 5        # a smoke test
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TEMPLATE / "tests"))
from compose_env import read_env_file, service_command, service_environment  # noqa: E402
from conftest import DEFAULTS, postgres_role, project_venv, show_uv_the_pythons, start_redis  # noqa: E402

# The stacks compared: (label, result_backend answer, keep this template's PostgreSQL backend).
STACKS = [
    ("results ignored", "none", True),
    ("PostgreSQL, Celery's database backend", "postgresql", False),
    ("PostgreSQL, this template's backend", "postgresql", True),
    ("Redis results", "redis", True),
]
SLOW_TASK_MS = 100


class Stack:
    """One baked project with its servers and its worker, started as compose.yaml says."""

    def __init__(self, result_backend: str, keep_backend: bool, directory: Path) -> None:
        self.slug = f"bench_{uuid.uuid4().hex[:8]}"
        extra = {"project_name": self.slug, "broker": "redis", "result_backend": result_backend}
        self.project = Path(
            cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(directory), extra_context=extra)
        )
        if not keep_backend:
            settings = self.project / self.slug / "settings.py"
            lines = settings.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [line for line in lines if not line.startswith("override_backends = ")]
            assert len(kept) == len(lines) - 1, "settings.py has no override_backends line to remove"
            settings.write_text("".join(kept), encoding="utf-8")
        compose = yaml.safe_load((self.project / "compose.yaml").read_text(encoding="utf-8"))
        self.services: dict[str, Any] = compose["services"]
        self.dotenv = read_env_file(self.project / ".env")
        self.bin_dir = project_venv(self.project, DEFAULTS["python_version"][0])
        self.directory = directory
        self.hosts: dict[str, str] = {}  # "@host:port/" in a URL -> "@127.0.0.1:local port/"
        self.stack = contextlib.ExitStack()
        self.stores_results = result_backend != "none"

    def start(self) -> None:
        for name in ("broker", "backend"):
            if name in self.services and self.services[name]["image"].startswith("redis:"):
                self.start_redis_service(name)
        if "POSTGRES_DB" in self.dotenv:
            self.start_postgres_role()
        env = self.environment()
        env["LIVENESS_FILE"] = str(self.directory / "worker.alive")  # not the shared /tmp/celery.alive
        command = service_command(self.services["worker"], self.dotenv)
        log = self.stack.enter_context((self.directory / "worker.log").open("wb"))
        worker = subprocess.Popen(command, cwd=self.project, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.stack.callback(stop, worker)
        code = f"from {self.slug}.celery import app; import sys; sys.exit(not app.control.ping(timeout=0.5))"
        deadline = time.monotonic() + 60
        while subprocess.run(
            [str(self.bin_dir / "python"), "-c", code], cwd=self.project, env=env
        ).returncode:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start: see {self.directory / 'worker.log'}")

    def start_redis_service(self, name: str) -> None:
        command = service_command(self.services[name], self.dotenv)
        data = self.directory / f"{name}-data"
        data.mkdir()
        process, port = start_redis(command[1:], data)
        self.stack.callback(stop, process)
        self.hosts[f"@{name}:6379/"] = f"@127.0.0.1:{port}/"

    def start_postgres_role(self) -> None:
        user, password, database = (self.dotenv[f"POSTGRES_{key}"] for key in ("USER", "PASSWORD", "DB"))
        self.stack.enter_context(postgres_role(user, password, database))
        self.hosts["@backend:5432/"] = "@127.0.0.1:5432/"

    def environment(self) -> dict[str, str]:
        """The worker container's environment (.env, compose's `environment`), pointed at local servers."""
        env = service_environment(self.services["worker"], self.project, self.dotenv)
        for key, value in env.items():
            for host, local in self.hosts.items():
                env[key] = value = value.replace(host, local)
        # What the image adds (Dockerfile ENV): the virtualenv first on PATH, the source on PYTHONPATH.
        return {
            **env,
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(self.project),
        }

    def loadtest(self, *options: str) -> dict[str, Any]:
        """Run the project's load test as `docker compose exec worker python -m <slug>.loadtest` would."""
        command = [str(self.bin_dir / "python"), "-m", f"{self.slug}.loadtest", *options, "--json"]
        done = subprocess.run(
            command, cwd=self.project, env=self.environment(), capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        figures: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
        return figures


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running(result_backend: str, keep_backend: bool, cleanup: contextlib.ExitStack) -> Iterator[Stack]:
    directory = Path(tempfile.mkdtemp(prefix="celery-bench-"))
    cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
    stack = Stack(result_backend, keep_backend, directory)
    with stack.stack:
        stack.start()
        yield stack


def measure(stacks: dict[str, Stack], tasks: int, samples: int, rounds: int) -> dict[str, dict[str, Any]]:
    """Tasks per second: the best of `rounds`, each round running every stack in turn, so that a
    busy moment on the machine falls on all of them. Then the result waits, one stack at a time."""
    rows: dict[str, dict[str, Any]] = {label: {"rates": []} for label in stacks}
    for stack in stacks.values():  # every pool process connects and imports before the clock starts
        stack.loadtest("-n", "50", *(["--samples", "0"] if stack.stores_results else []))
    for round_ in range(1, rounds + 1):
        for label, stack in stacks.items():
            print(f"round {round_}/{rounds}: {label}", file=sys.stderr, flush=True)
            figures = stack.loadtest("-n", str(tasks), *(["--samples", "0"] if stack.stores_results else []))
            rows[label]["rates"].append(figures["throughput"]["tasks_per_second"])
    for row in rows.values():
        row["tasks_per_second"] = max(row["rates"])
    for label, stack in stacks.items():
        if stack.stores_results:
            print(f"result waits: {label}", file=sys.stderr, flush=True)
            fast = stack.loadtest("-n", "1", "--samples", str(samples))
            rows[label]["wait_0ms"] = fast["latency_ms"]
            slow = stack.loadtest("-n", "1", "--args", f"[{SLOW_TASK_MS}]", "--samples", str(samples))
            rows[label]["wait_100ms"] = {
                key: value - SLOW_TASK_MS for key, value in slow["latency_ms"].items()
            }
    return rows


def table(rows: dict[str, dict[str, Any]], worker: str, options: argparse.Namespace) -> str:
    ceiling = rows["results ignored"]["tasks_per_second"]
    lines = [
        f"{os.cpu_count()} CPU cores; Redis broker; every stack's worker: {worker}",
        f"tasks/s: {options.tasks} tasks of 0 ms sent at once, best of {options.rounds} rounds;",
        f"result wait: {options.samples} tasks sent one at a time, send to result"
        f" (less the task's own {SLOW_TASK_MS} ms for the slow one)",
        "",
        "| stack | tasks/s | of ignored | wait p50 / p95, 0 ms task | wait p50 / p95, 100 ms task |",
        "|---|---:|---:|---:|---:|",
    ]

    def wait(row: dict[str, Any], key: str) -> str:
        return f"{row[key]['p50']:.1f} / {row[key]['p95']:.1f} ms" if key in row else "-"

    for label, row in rows.items():
        rate = row["tasks_per_second"]
        cells = [
            label,
            f"{rate:.0f}",
            f"{rate / ceiling:.0%}",
            wait(row, "wait_0ms"),
            wait(row, "wait_100ms"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    new_label = "PostgreSQL, this template's backend"
    new, stock = rows[new_label], rows["PostgreSQL, Celery's database backend"]
    share, ratio = new["tasks_per_second"] / ceiling, new["tasks_per_second"] / stock["tasks_per_second"]
    fast, slow = new["wait_0ms"], new["wait_100ms"]
    ignored = rows["results ignored"]["rates"]

    def by_round(label: str) -> str:
        return " / ".join(
            f"{rate / base:.0%}" for rate, base in zip(rows[label]["rates"], ignored, strict=True)
        )

    lines += [
        "",
        f"of ignored, round by round: this template's backend {by_round(new_label)},"
        f" Redis results {by_round('Redis results')}",
        f"this template's PostgreSQL backend: {share:.0%} of ignored (goal >= 80 %),"
        f" {ratio:.2f}x Celery's database backend (goal >= 1.8x);",
        f"result wait p50 {fast['p50']:.1f} / {slow['p50']:.1f} ms (goal <= 20),"
        f" p95 {fast['p95']:.1f} / {slow['p95']:.1f} ms (goal <= 50), for the 0 / 100 ms task",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=2000, help="tasks sent at once per run (2000)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs per stack for tasks/s; the best counts (3)"
    )
    parser.add_argument(
        "--samples", type=int, default=100, help="tasks sent one by one per wait figure (100)"
    )
    options = parser.parse_args()
    started = time.monotonic()
    try:
        show_uv_the_pythons()  # the bakes are installed for their Python, as in the tests
        with contextlib.ExitStack() as cleanup:
            stacks = {
                label: cleanup.enter_context(running(result_backend, keep_backend, cleanup))
                for label, result_backend, keep_backend in STACKS
            }
            worker = " ".join(service_command(stacks[STACKS[0][0]].services["worker"], {}))
            rows = measure(stacks, options.tasks, options.samples, options.rounds)
    except (RuntimeError, pytest.fail.Exception) as exc:
        print(f"The benchmark could not run: {exc}", file=sys.stderr)
        return 1
    print(table(rows, worker, options))
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
