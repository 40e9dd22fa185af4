"""Fixtures shared by the tests. Nothing is mocked: the tests talk to real servers.

TEST_BROKER_URL{% if cookiecutter.result_backend != "none" %} and TEST_RESULT_BACKEND say{% else %} says{% endif %} where they are; the defaults are local servers.
They are separate from the CELERY_* variables so that the tests never touch the servers a shell
happens to be configured for.
"""

import contextlib
{%- if cookiecutter.result_backend != "none" %}
import json
{%- endif %}
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import {% if cookiecutter.result_backend != "none" %}Callable, {% endif %}Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
{%- if cookiecutter.result_backend != "none" %}
from typing import Any
{%- endif %}

import pytest
{%- if cookiecutter.result_backend == "redis" %}
import redis
{%- elif cookiecutter.result_backend == "postgresql" %}
import sqlalchemy
{%- endif %}
from celery import Celery
{%- if cookiecutter.result_backend != "none" %}
from celery.result import AsyncResult
{%- endif %}
from kombu import Connection

BROKER_URL = os.getenv("TEST_BROKER_URL", "{% if cookiecutter.broker == 'redis' %}redis://127.0.0.1:6379/0{% else %}amqp://guest:guest@127.0.0.1:5672//{% endif %}")
{%- if cookiecutter.result_backend == "postgresql" %}
RESULT_BACKEND = os.getenv("TEST_RESULT_BACKEND", "db+postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
{%- elif cookiecutter.result_backend == "redis" %}
RESULT_BACKEND = os.getenv("TEST_RESULT_BACKEND", "redis://127.0.0.1:6379/1")
{%- endif %}
# settings.py reads these when the app is imported: set them before any test imports it.
os.environ["CELERY_BROKER_URL"] = BROKER_URL
{%- if cookiecutter.result_backend != "none" %}
os.environ["CELERY_RESULT_BACKEND"] = RESULT_BACKEND
{%- endif %}

# The worker started below touches its liveness file here, not in the shared /tmp/celery.alive.
os.environ["LIVENESS_FILE"] = f"/tmp/{{ cookiecutter.project_slug }}-test-{uuid.uuid4().hex[:8]}.alive"  # noqa: S108

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _broker_problem() -> str | None:
    try:
        with Connection(BROKER_URL, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # whatever the failure, the broker is not usable
        return f"The broker is not reachable at {BROKER_URL} ({exc.__class__.__name__}: {exc}).\n"
    return None
{%- if cookiecutter.result_backend == "postgresql" %}


def _backend_problem() -> str | None:
    try:
        engine = sqlalchemy.create_engine(RESULT_BACKEND.removeprefix("db+"))
        with engine.connect():
            pass
        engine.dispose()
    except sqlalchemy.exc.SQLAlchemyError as exc:
        return f"PostgreSQL is not reachable at {RESULT_BACKEND} ({exc.__class__.__name__}: {exc}).\n"
    return None
{%- elif cookiecutter.result_backend == "redis" %}


def _backend_problem() -> str | None:
    try:
        redis.Redis.from_url(RESULT_BACKEND, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"The result Redis is not reachable at {RESULT_BACKEND} ({exc}).\n"
    return None
{%- endif %}


@pytest.fixture(scope="session")
def services() -> None:
    """Fail at once, saying how to fix it, when a server the tests need is not running."""
    problems = [p for p in [_broker_problem(){% if cookiecutter.result_backend != "none" %}, _backend_problem(){% endif %}] if p]
    if problems:
        pytest.fail(
            "".join(problems) + "Start it on this machine (compose.yaml publishes no port), or point the\n"
            "TEST_* variables named in tests/conftest.py at a running server.",
            pytrace=False,
        )


def start_worker(queue: str, env: dict[str, str], *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start a real `celery worker` process, as compose.yaml starts it, and wait until it answers.

    It gets a session of its own, so a test can kill it with all its child processes at once.
    Returns the process and the worker's node name.
    """
    node = f"test-{uuid.uuid4().hex[:8]}@localhost"
    command = [sys.executable, "-m", "celery", "-A", "{{ cookiecutter.project_slug }}", "worker"]
    command += [f"--queues={queue}", "--concurrency=2", f"--hostname={node}", *options]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while not answers_ping(node, env["CELERY_BROKER_URL"]):
        if process.poll() is not None:
            pytest.fail(f"the worker exited ({process.returncode}): see its log above", pytrace=False)
        if time.monotonic() > deadline:
            stop_worker(process)
            pytest.fail("the worker did not answer a ping within 60 s", pytrace=False)
    return process, node


@contextlib.contextmanager
def control_app(broker_url: str) -> Iterator[Celery]:
    """A bare app for control commands (ping, inspect) through `broker_url`.

    Celery prefers CELERY_BROKER_URL from the environment to any broker it is given, so that
    variable points at `broker_url` while the app is in use.
    """
    saved = os.environ["CELERY_BROKER_URL"]
    os.environ["CELERY_BROKER_URL"] = broker_url
    app = Celery()
    try:
        yield app
    finally:
        app.close()
        os.environ["CELERY_BROKER_URL"] = saved


def answers_ping(node: str, broker_url: str) -> bool:
    """Ping one worker through `broker_url`."""
    with control_app(broker_url) as app:
        return bool(app.control.ping(destination=[node], timeout=0.5))


def stop_worker(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as `docker compose stop` sends: a warm shutdown. Returns the exit code."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.wait()


@pytest.fixture(scope="session")
def worker(services: None) -> Iterator[str]:
    """A real worker consuming the project's queue; yields its node name."""
    process, node = start_worker("{{ cookiecutter.queue_name }}", os.environ.copy())
    yield node
    stop_worker(process)


class WebServer:
    """A local HTTP server with a few paths, counting the requests each path got.

    /ok answers 200; /missing 404; /flaky/<n>/<key> answers 503 n times, then 200;
    /slow/<seconds> waits before answering; /big/<n> answers n bytes; /drip/<seconds> sends its
    body a byte every 0.2 s for that long.
    """

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] += 1
                parts = self.path.strip("/").split("/")
                status = 404
                if parts[0] == "ok":
                    status = 200
                elif parts[0] == "flaky":
                    status = 503 if server.hits[self.path] <= int(parts[1]) else 200
                elif parts[0] == "slow":
                    time.sleep(float(parts[1]))
                    status = 200
                elif parts[0] in ("big", "drip"):
                    status = 200
                body = b"hello" if status == 200 else b"no"
                if parts[0] == "big":
                    body = b"x" * int(parts[1])
                elif parts[0] == "drip":
                    body = b"x" * int(float(parts[1]) / 0.2)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # /slow, /drip: the client may have given up waiting, which is the point.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    if parts[0] == "drip":
                        for byte in body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.2)
                    else:
                        self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"


@pytest.fixture(scope="session")
def web() -> Iterator[WebServer]:
    """The local HTTP server: tests never reach the internet."""
    server = WebServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


{%- if cookiecutter.result_backend == "postgresql" %}


@pytest.fixture(scope="session")
def stored_result(services: None) -> Iterator[Callable[[AsyncResult[Any]], dict[str, Any]]]:
    """Wait for a task, then read its row from celery_taskmeta with SQL, as a person would."""
    engine = sqlalchemy.create_engine(RESULT_BACKEND.removeprefix("db+"))

    def read(result: AsyncResult[Any]) -> dict[str, Any]:
        result.get(timeout=60, propagate=False)
        query = "SELECT status, result, name, queue, retries FROM celery_taskmeta WHERE task_id = :id"
        with engine.connect() as connection:
            row = connection.execute(sqlalchemy.text(query), {"id": result.id}).one()
        # Celery 5.7 stores the result as JSON bytes: SELECT convert_from(result, 'UTF8') shows it.
        return {**row._asdict(), "result": json.loads(bytes(row.result))}

    yield read
    engine.dispose()
{%- elif cookiecutter.result_backend == "redis" %}


@pytest.fixture(scope="session")
def stored_result(services: None) -> Iterator[Callable[[AsyncResult[Any]], dict[str, Any]]]:
    """Wait for a task, then read its key from Redis, as a person would with redis-cli."""
    client = redis.Redis.from_url(RESULT_BACKEND)

    def read(result: AsyncResult[Any]) -> dict[str, Any]:
        result.get(timeout=60, propagate=False)
        key = f"celery-task-meta-{result.id}"
        stored = client.get(key)
        assert isinstance(stored, bytes), f"no result under {key}"
        meta: dict[str, Any] = json.loads(stored)
        return {**meta, "ttl": client.ttl(key)}

    yield read
    client.close()
{%- endif %}
