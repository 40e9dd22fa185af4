"""compose.yaml's commands, run exactly as written, do the job, for every option combination.

There is no Docker engine here. Each Celery service runs in a mount namespace of its own with an
empty /tmp, as in a container, and with the environment compose would give it (.env, with
compose's interpolation). The broker and backend are real servers on this machine: the service's
own redis-server command on a free port, the local RabbitMQ with the user from .env, the local
PostgreSQL with the role and database from .env. Only host names and ports change. The metrics
exporter runs the command of the Dockerfile's exporter stage in a virtualenv built as that stage
builds it; Sentry is a local stand-in. Needs root (mount namespaces), as CI has.
"""

import contextlib
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import redis
import yaml
from compose_env import read_env_file, service_command, service_environment
from conftest import (
    CACHE,
    TEMPLATE,
    VENVS,
    exporter_venv,
    free_port,
    postgres_role,
    project_venv,
    start_redis,
)
from cookiecutter.main import cookiecutter
from test_bake import OPTIONS, PYTHON_VERSIONS, combination_id, covering

# Every combination of the options that change compose.yaml; use_sentry (only .env) spread over them
# so that each of its values meets each value of the others. Generated from cookiecutter.json.
STACKS = {
    combination_id(combo): combo
    for combo in covering(OPTIONS, every=("broker", "result_backend", "use_flower"))
}

pytestmark = pytest.mark.xdist_group("compose-commands")  # one process starts every stack at once

# An empty /tmp and a host name of its own for each service, like a container's (Celery names a
# worker after its host); `sleep` holds the namespaces open.
NAMESPACE = ["unshare", "--mount", "--uts", "--propagation", "private", "--", "sh", "-c"]
NAMESPACE += ['mount -t tmpfs tmpfs /tmp && hostname "$0" && exec sleep infinity']


def healthcheck_argv(test: list[str]) -> list[str]:
    """A compose healthcheck `test` as a command line."""
    return test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]


class Stack:
    """One combination's project, its servers and its running Celery services."""

    def __init__(self, answers: dict[str, object], directory: Path) -> None:
        self.answers = answers
        self.slug = f"verbatim_{uuid.uuid4().hex[:8]}"
        self.queue = f"verbatim.{self.slug[-8:]}"
        extra = {**answers, "project_name": self.slug, "queue_name": self.queue}
        self.project = Path(
            cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(directory), extra_context=extra)
        )
        self.compose = yaml.safe_load((self.project / "compose.yaml").read_text(encoding="utf-8"))
        self.services = self.compose["services"]
        self.dotenv = read_env_file(self.project / ".env")
        self.hosts: dict[str, str] = {}  # "@host:port/" in a URL -> "@127.0.0.1:local port/"
        self.cleanups = contextlib.ExitStack()  # undone in reverse by close()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.redis_ports: dict[str, int] = {}  # service name -> the local port of its redis-server
        self.holders: dict[str, subprocess.Popen[bytes]] = {}
        self.hostnames: dict[str, str] = {}  # Celery service -> the host name of its namespace
        self.bin_dir = project_venv(self.project, PYTHON_VERSIONS[0])
        self.exporter_bin = exporter_venv(self.project)
        self.exporter_port = free_port()
        self.started = time.monotonic()

    # -- servers ---------------------------------------------------------------------------------
    def start_redis_service(self, name: str) -> None:
        command = service_command(self.services[name], self.dotenv)
        directory = self.project.parent / f"{name}-data"
        directory.mkdir()
        process, port = start_redis(command[1:], directory)
        self.hosts[f"@{name}:6379/"] = f"@127.0.0.1:{port}/"
        self.processes[name] = process
        self.redis_ports[name] = port

    def start_rabbitmq_user(self) -> None:
        user, password = self.dotenv["RABBITMQ_USER"], self.dotenv["RABBITMQ_PASSWORD"]
        subprocess.run(["rabbitmqctl", "-q", "add_user", user, password], check=True)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", "/", user, ".*", ".*", ".*"], check=True
        )
        self.cleanups.callback(subprocess.run, ["rabbitmqctl", "-q", "delete_user", user], check=True)
        self.hosts["@broker:5672/"] = "@127.0.0.1:5672/"

    def start_postgres_role(self) -> None:
        user, password, database = (self.dotenv[f"POSTGRES_{key}"] for key in ("USER", "PASSWORD", "DB"))
        self.cleanups.enter_context(postgres_role(user, password, database))
        self.hosts["@backend:5432/"] = "@127.0.0.1:5432/"

    # -- Celery services -------------------------------------------------------------------------
    def environment(self, name: str) -> dict[str, str]:
        env = service_environment(self.services[name], self.project, self.dotenv)
        for key, value in env.items():
            for host, local in self.hosts.items():
                env[key] = value = value.replace(host, local)
        if name == "exporter":  # its image: its own virtualenv, no app source
            path = f"{self.exporter_bin}{os.pathsep}{os.environ['PATH']}"
            return {**env, "CE_PORT": str(self.exporter_port), "PATH": path}
        # What the image adds (Dockerfile ENV): the virtualenv first on PATH, the source on PYTHONPATH.
        return {
            **env,
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(self.project),
        }

    def use_sentry(self, dsn: str) -> None:
        """Set SENTRY_DSN in .env, as a user does."""
        env_file = self.project / ".env"
        text = env_file.read_text(encoding="utf-8")
        assert "\nSENTRY_DSN=\n" in text
        env_file.write_text(text.replace("\nSENTRY_DSN=\n", f"\nSENTRY_DSN={dsn}\n"), encoding="utf-8")
        self.dotenv = read_env_file(env_file)

    def start_exporter(self) -> None:
        """The exporter service: its image's command (the Dockerfile's CMD), with its compose environment."""
        dockerfile = (self.project / "Dockerfile").read_text(encoding="utf-8")
        stage = dockerfile.partition(" AS exporter\n")[2].partition("\nFROM ")[0]
        command = json.loads(re.findall(r"^CMD (\[.*\])$", stage, flags=re.MULTILINE)[-1])
        self.processes["exporter"] = subprocess.Popen(
            command, cwd=self.project.parent, env=self.environment("exporter"), stdout=subprocess.DEVNULL
        )

    def start_celery_service(self, name: str) -> None:
        command = service_command(self.services[name], self.dotenv)
        if name == "flower":
            self.flower_port = free_port()
            command = [part.replace("--port=5555", f"--port={self.flower_port}") for part in command]
        self.hostnames[name] = f"{name}-{uuid.uuid4().hex[:12]}"
        holder = subprocess.Popen([*NAMESPACE, self.hostnames[name]])
        self.holders[name] = holder
        time.sleep(0.2)  # the holder mounts its /tmp
        enter = ["nsenter", f"--target={holder.pid}", "--mount", "--uts", "--"]
        self.processes[name] = subprocess.Popen(
            [*enter, *command], cwd=self.project, env=self.environment(name)
        )

    def start(self) -> None:
        if self.answers["broker"] == "redis":
            self.start_redis_service("broker")
        else:
            self.start_rabbitmq_user()
        if self.answers["result_backend"] == "postgresql":
            self.start_postgres_role()
        elif self.answers["result_backend"] == "redis":
            self.start_redis_service("backend")
        self.start_exporter()
        for name in ("worker", "scheduler", "flower"):
            if name in self.services:
                self.start_celery_service(name)

    # -- what a person would check ---------------------------------------------------------------
    def python(self, code: str) -> str:
        """Run Python with the worker's environment, as `docker compose exec worker python -c` does."""
        done = subprocess.run(
            [str(self.bin_dir / "python"), "-c", code],
            cwd=self.project,
            env=self.environment("worker"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.strip()

    def stored(self, task_id: str | None = None, args: str | None = None) -> tuple[str, Any] | None:
        """(status, result) of a task found by id, or by its arguments as stored JSON; None if absent."""
        backend = self.answers["result_backend"]
        if backend == "postgresql":
            connection = psycopg2.connect(
                host="127.0.0.1",
                dbname=self.dotenv["POSTGRES_DB"],
                user=self.dotenv["POSTGRES_USER"],
                password=self.dotenv["POSTGRES_PASSWORD"],
            )
            try:
                with connection.cursor() as cursor:
                    by = "task_id = %s" if task_id else "convert_from(args, 'UTF8') = %s"
                    query = "SELECT status, convert_from(result, 'UTF8') FROM celery_taskmeta WHERE "
                    cursor.execute(query + by, (task_id or args,))
                    row = cursor.fetchone()
            except psycopg2.errors.UndefinedTable:
                row = None
            finally:
                connection.close()
            return (row[0], json.loads(row[1])) if row else None
        client = redis.Redis(port=self.redis_ports["backend"], password=self.dotenv["RESULT_REDIS_PASSWORD"])
        keys = [f"celery-task-meta-{task_id}"] if task_id else client.scan_iter("celery-task-meta-*")
        for key in keys:
            meta = json.loads(client.get(key) or "null")
            if meta and (task_id or json.dumps(meta.get("args")) == args):
                return meta["status"], meta["result"]
        return None

    def queue_length(self) -> int:
        """Messages waiting in the queue, as the broker counts them (LLEN; RabbitMQ's messages_ready)."""
        if self.answers["broker"] == "redis":
            client = redis.Redis(port=self.redis_ports["broker"], password=self.dotenv["REDIS_PASSWORD"])
            length = client.llen(self.queue)
            assert isinstance(length, int)
            return length
        listing = subprocess.run(
            ["rabbitmqctl", "-q", "list_queues", "-p", "/", "name", "messages_ready"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        counts = dict(line.split("\t") for line in listing.splitlines() if line.count("\t") == 1)
        return int(counts.get(self.queue, "0"))

    def tasks_run(self) -> int:
        """How many count_primes tasks the workers have run (`celery inspect stats`)."""
        name = f"{self.slug}.tasks.primes.count_primes"
        code = (
            f"from {self.slug}.celery import app; stats = app.control.inspect(timeout=2).stats() or {{}}; "
            f"print(sum(worker['total'].get({name!r}, 0) for worker in stats.values()))"
        )
        return int(self.python(code))

    def stop(self, name: str) -> int | None:
        process = self.processes.pop(name, None)
        if process is None:
            return None
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        for holder in self.holders.values():
            holder.kill()
            holder.wait()
        self.cleanups.close()


def envelope_items(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """The items of a Sentry envelope: a header line, then per item a header line and its payload."""
    items = []
    rest = body.partition(b"\n")[2]
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 for the stacks: a stand-in for Sentry, and a web site."""

    def __init__(self) -> None:
        self.sentry: list[tuple[str, str, dict[str, Any]]] = []  # (project id, item type, payload)
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # sentry-sdk: /api/<project id>/envelope/
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                project = self.path.split("/")[2]
                for header, payload in envelope_items(body):
                    server.sentry.append((project, header["type"], json.loads(payload)))
                self.answer(200)

            def do_GET(self) -> None:  # fetch_url: /ok/<key> 200, /flaky/<n>/<key> 503 n times, else 404
                server.hits[self.path] += 1
                parts = self.path.split("/")
                if parts[1] == "ok":
                    self.answer(200)
                elif parts[1] == "flaky":
                    self.answer(503 if server.hits[self.path] <= int(parts[2]) else 200)
                else:
                    self.answer(404)

            def answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"


def scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus's view of the exporter: (metric, labels, value) for each sample on /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    samples = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
            assert match, line
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
            samples.append((match[1], labels, float(match[3])))
    return samples


def total(samples: list[tuple[str, dict[str, str], float]], metric: str, **labels: str) -> float:
    """The sum of a metric over the samples that carry these labels."""
    return sum(value for name, found, value in samples if name == metric and labels.items() <= found.items())


def wait_for(condition: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not true within {timeout} s"
        time.sleep(0.5)
    return value


@pytest.fixture(scope="module")
def local() -> Iterator[LocalServer]:
    server = LocalServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory, local: LocalServer) -> Iterator[dict[str, Stack]]:
    """Every stack, all started at once: the scheduler's first run takes a minute. With Sentry, the
    DSN points at the local stand-in, each stack under a project id of its own (its index)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail(
            "These tests give each service a private /tmp with unshare: run them as root.", pytrace=False
        )
    # Outside /tmp, which each service replaces with its own.
    root = CACHE / f"verbatim-{uuid.uuid4().hex[:8]}"
    if any(Path("/tmp") in path.parents for path in (root, VENVS)):  # noqa: S108 (a check, not a use)
        pytest.fail(f"{CACHE} is under /tmp, which each service hides: set XDG_CACHE_HOME.", pytrace=False)
    running: dict[str, Stack] = {}
    try:
        for index, (stack_id, answers) in enumerate(STACKS.items()):
            running[stack_id] = Stack(answers, root / stack_id)
            if answers["use_sentry"]:
                running[stack_id].use_sentry(f"{local.url.replace('//', '//public-key@')}/{index}")
            running[stack_id].start()
        yield running
    finally:
        for stack in running.values():
            stack.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("combination", STACKS)
def test_worker_and_scheduler_commands_run_verbatim_to_stored_results(
    stacks: dict[str, Stack], combination: str
) -> None:
    stack = stacks[combination]
    task_id = stack.python(
        f"from {stack.slug}.tasks.primes import count_primes; print(count_primes.delay(1000).id)"
    )
    if stack.answers["result_backend"] == "none":
        # Nothing is stored: count what the workers ran, the sent task and then a scheduled one.
        wait_for(lambda: stack.tasks_run() >= 1, timeout=90)
        wait_for(lambda: stack.tasks_run() >= 2, timeout=120 - (time.monotonic() - stack.started))
        return
    assert wait_for(lambda: stack.stored(task_id=task_id), timeout=90) == ("SUCCESS", 168)
    # The scheduler sends count_primes(100000) a minute after it starts.
    scheduled = wait_for(
        lambda: stack.stored(args="[100000]"), timeout=120 - (time.monotonic() - stack.started)
    )
    assert scheduled == ("SUCCESS", 9592)


@pytest.mark.parametrize("combination", STACKS)
def test_the_exporter_counts_what_the_worker_did_and_reports_the_queue_the_broker_holds(
    stacks: dict[str, Stack], local: LocalServer, combination: str
) -> None:
    stack = stacks[combination]
    fetch_url = f"{stack.slug}.tasks.fetch.fetch_url"
    node = f"celery@{stack.hostnames['worker']}"
    # reply=True: the call returns once the worker has done it.
    control = f"from {stack.slug}.celery import app; app.control.{{}}("
    control += f"{stack.queue!r}, destination=[{node!r}], reply=True)"
    before = scrape(stack.exporter_port)
    assert total(before, "celery_worker_up", hostname=stack.hostnames["worker"]) == 1

    # The worker stops consuming the queue (`celery control cancel_consumer`): the tasks wait in the broker.
    stack.python(control.format("cancel_consumer"))
    urls = [f"{local.url}/ok/{stack.slug}-{n}" for n in range(3)]
    urls += [f"{local.url}/missing/{stack.slug}", f"{local.url}/flaky/2/{stack.slug}"]
    stack.python(f"from {stack.slug}.tasks.fetch import fetch_url\nfor url in {urls!r}: fetch_url.delay(url)")

    def queue_as_the_broker_says() -> bool:
        gauge = total(scrape(stack.exporter_port), "celery_queue_length", queue_name=stack.queue)
        return gauge >= len(urls) and gauge == stack.queue_length()  # the scheduler may add one

    wait_for(queue_as_the_broker_says, timeout=60)

    # Consuming again, the worker runs them: 3 succeed, 1 fails (404), 1 succeeds after 2 retries (503).
    stack.python(control.format("add_consumer"))
    expected = {
        "celery_task_received_total": 7,
        "celery_task_succeeded_total": 4,
        "celery_task_failed_total": 1,
        "celery_task_retried_total": 2,
        "celery_task_runtime_count": 4,
    }
    deadline = time.monotonic() + 120
    while True:
        after = scrape(stack.exporter_port)
        moved = {
            metric: total(after, metric, name=fetch_url) - total(before, metric, name=fetch_url)
            for metric in expected
        }
        if moved == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert moved == expected
    assert total(after, "celery_task_failed_total", name=fetch_url, exception="HTTPError") == 1
    # The dead letters' queue is reported too, empty here (deadletter.py; the CeleryDeadLetters alert).
    dead = f"{stack.queue}.dead"
    lengths = [
        value
        for name, labels, value in after
        if name == "celery_queue_length" and labels["queue_name"] == dead
    ]
    assert lengths == [0.0]


@pytest.mark.parametrize(
    "combination", [stack_id for stack_id, answers in STACKS.items() if answers["use_sentry"]]
)
def test_sentry_gets_the_periodic_tasks_check_ins(
    stacks: dict[str, Stack], local: LocalServer, combination: str
) -> None:
    project = str(list(STACKS).index(combination))

    def check_ins() -> list[dict[str, Any]]:
        return [item for where, kind, item in local.sentry if where == project and kind == "check_in"]

    # The scheduler sent count_primes a minute after it started (the first test waited for it).
    wait_for(lambda: {"in_progress", "ok"} <= {check_in["status"] for check_in in check_ins()}, timeout=60)
    assert {check_in["monitor_slug"] for check_in in check_ins()} == {"count-primes-every-minute"}


@pytest.mark.parametrize("combination", STACKS)
def test_every_healthcheck_passes_and_fails_once_its_service_stops(
    stacks: dict[str, Stack], combination: str
) -> None:
    stack = stacks[combination]
    checks = {name: service["healthcheck"]["test"] for name, service in stack.services.items()}
    assert set(checks) == set(stack.services), "every service has a healthcheck"

    def probe(name: str, stopped: bool = False) -> int:
        argv = healthcheck_argv(checks[name])
        env = {**os.environ}
        if name in stack.holders:  # a Celery service: inside its namespace, with its environment
            argv = ["nsenter", f"--target={stack.holders[name].pid}", "--mount", "--uts", "--", *argv]
            env = stack.environment(name)
            if name == "flower":
                argv = [part.replace(":5555/", f":{stack.flower_port}/") for part in argv]
        elif name == "exporter":  # its image's Python, on the exporter's port
            argv = [part.replace(":9808/", f":{stack.exporter_port}/") for part in argv]
            env = stack.environment(name)
        elif argv[-1].startswith("redis-cli"):
            env |= stack.services[name]["environment"] | {
                "REDISCLI_AUTH": stack.dotenv[
                    "REDIS_PASSWORD" if name == "broker" else "RESULT_REDIS_PASSWORD"
                ]
            }
            argv[-1] = argv[-1].replace("redis-cli", f"redis-cli -p {stack.redis_ports[name]}")
        elif argv[-1].startswith("pg_isready"):
            env |= {key: stack.dotenv[key] for key in ("POSTGRES_USER", "POSTGRES_DB")}
            # The shared PostgreSQL is never stopped: a port nothing listens on stands for it.
            argv[-1] += f" --host=127.0.0.1 --port={free_port() if stopped else 5432}"
        elif argv[0] == "rabbitmq-diagnostics" and stopped:
            argv = [*argv[:1], "--node=stopped@localhost", *argv[1:]]  # likewise for RabbitMQ
        return subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False).returncode

    assert {name: probe(name) for name in checks} == dict.fromkeys(checks, 0)

    for name in ("flower", "scheduler", "worker"):
        if name in checks:
            assert stack.stop(name) == 0, f"{name} did not stop cleanly on SIGTERM"
    stack.stop("exporter")
    for name in ("broker", "backend"):
        if name in stack.processes:
            stack.processes.pop(name).kill()
    assert all(probe(name, stopped=True) != 0 for name in checks), {
        name: probe(name, stopped=True) for name in checks
    }
