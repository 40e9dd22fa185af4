"""Fixtures for the template's tests: real servers and a virtualenv for each baked project.

Baked projects run their own test suites against real services: a private redis-server started
here (so parallel bakes never share a queue and the system Redis is left alone) and a fresh
database per bake on the local PostgreSQL (TEMPLATE_TEST_POSTGRES, default below).
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import redis
from pytest_cookies.plugin import Cookies

TEMPLATE = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.getenv("TEMPLATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
# Virtualenvs and verbatim stacks live in the user's cache, never under /tmp: the compose-command
# tests give each service an empty /tmp of its own, which would hide them.
CACHE = Path(os.getenv("XDG_CACHE_HOME", Path.home() / ".cache")) / "celery-template-tests"
VENVS = CACHE / "venvs"
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
# uv, from the template's own virtualenv (requirements-dev.txt), beside this interpreter.
UV = str(Path(sys.executable).parent / "uv")
# The fixtures' types, for the tests' annotations: bake(**answers), project_servers(answers).
Bake = Callable[..., Path]
ProjectServers = Callable[[Mapping[str, object]], tuple[str, str | None]]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(args: list[str], directory: Path, port: int = 0) -> tuple[subprocess.Popen[bytes], int]:
    """Start redis-server with `args` on `port` (0: a free one) in `directory`; wait until it answers."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail("redis-server is not installed: apt-get install redis-server", pytrace=False)
    port = port or free_port()
    command = [executable, *args, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    password = args[args.index("--requirepass") + 1] if "--requirepass" in args else None
    client = redis.Redis(port=port, password=password)
    for _ in range(100):
        with contextlib.suppress(redis.ConnectionError):
            client.ping()
            return process, port
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"redis-server did not start: {command}", pytrace=False)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private, throw-away redis-server for this test process."""
    process, port = start_redis(["--save", "", "--appendonly", "no"], tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait()


def postgres_admin() -> "psycopg2.extensions.connection":
    """An autocommit connection to the local PostgreSQL, or a failure that says how to start it."""
    try:
        connection = psycopg2.connect(POSTGRES_URL, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}\n"
            "Start it (`bash .ci/run` starts every service the tests need), or set TEMPLATE_TEST_POSTGRES.",
            pytrace=False,
        )
    connection.autocommit = True
    return connection


@contextlib.contextmanager
def fresh_database(name: str | None = None) -> Iterator[str]:
    """Create a database, yield its SQLAlchemy URL for Celery, drop it afterwards."""
    name = name or f"bake_{uuid.uuid4().hex[:12]}"
    admin = postgres_admin()
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(POSTGRES_URL)
    try:
        yield urlunsplit(("db+postgresql+psycopg2", parts.netloc, f"/{name}", "", ""))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextlib.contextmanager
def postgres_role(user: str, password: str, database: str) -> Iterator[None]:
    """The role and database a project's `.env` names, made on the local PostgreSQL as the backend
    container would make them; both dropped afterwards."""
    admin = postgres_admin()
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{user}" LOGIN PASSWORD %s', (password,))
        cursor.execute(f'CREATE DATABASE "{database}" OWNER "{user}"')
    try:
        yield
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cursor.execute(f'DROP ROLE IF EXISTS "{user}"')
        admin.close()


@contextlib.contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A fresh virtual host on the local RabbitMQ, open to guest; yields its URL, deletes it after."""
    rabbitmqctl = shutil.which("rabbitmqctl")
    with socket.socket() as sock:
        reachable = sock.connect_ex(("127.0.0.1", 5672)) == 0
    if rabbitmqctl is None or not reachable:
        pytest.fail("RabbitMQ is not running on 127.0.0.1:5672: `bash .ci/run` starts it.", pytrace=False)
    name = f"bake_{uuid.uuid4().hex[:12]}"
    subprocess.run([rabbitmqctl, "-q", "add_vhost", name], check=True)
    try:
        subprocess.run(
            [rabbitmqctl, "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True
        )
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        subprocess.run([rabbitmqctl, "-q", "delete_vhost", name], check=True)


@pytest.fixture
def project_servers(redis_url: str) -> Iterator[ProjectServers]:
    """Servers for one bake's own test suite, as its answers choose: (broker URL, result backend URL).

    Redis is the private server, emptied first; RabbitMQ gets a fresh virtual host, PostgreSQL a
    fresh database. No bake sees another's queues or results.
    """
    with contextlib.ExitStack() as cleanup:

        def servers(answers: Mapping[str, object]) -> tuple[str, str | None]:
            broker = answers.get("broker", DEFAULTS["broker"][0])
            backend = answers.get("result_backend", DEFAULTS["result_backend"][0])
            redis.Redis.from_url(redis_url).flushall()
            broker_url = redis_url if broker == "redis" else cleanup.enter_context(rabbitmq_vhost())
            backend_urls: dict[str, Callable[[], str | None]] = {
                "postgresql": lambda: cleanup.enter_context(fresh_database()),
                "redis": lambda: redis_url.removesuffix("/0") + "/1",
                "none": lambda: None,
            }
            backend_url = backend_urls[str(backend)]()
            return broker_url, backend_url

        yield servers


def show_uv_the_pythons() -> None:
    """uv checks, installs and (make locks) writes each bake's lock for the bake's Python: let it
    find every offered one (after anything already on PATH), and never download one instead."""
    folders = [str(Path(python_for(str(version))).parent) for version in DEFAULTS["python_version"]]
    os.environ["PATH"] = os.pathsep.join([os.environ["PATH"], *folders])
    os.environ["UV_PYTHON_DOWNLOADS"] = "never"


@pytest.fixture(scope="session", autouse=True)
def interpreters_for_uv() -> None:
    show_uv_the_pythons()


def python_for(version: str) -> str:
    """The interpreter for a `python_version` answer, or a failure that says how to install it.

    pyenv's shims answer `python3.12` only when that version is selected, so its versions
    folder is looked in first, then PATH.
    """
    pyenv_root = Path(os.getenv("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)
    candidates.append(Path(shutil.which(f"python{version}") or f"python{version}"))
    for candidate in candidates:
        with contextlib.suppress(OSError):
            probe = subprocess.run([candidate, "-c", "import sys; print(sys.version)"], capture_output=True)
            if probe.returncode == 0 and probe.stdout.decode().startswith(f"{version}."):
                return str(candidate)
    pytest.fail(f"Python {version} is not installed: pyenv install {version}", pytrace=False)


def locked_packages(project: Path) -> list[str]:
    """name==version of each package the bake's uv.lock pins (the project itself left out)."""
    lock = tomllib.loads((project / "uv.lock").read_text(encoding="utf-8"))
    return sorted(
        f"{package['name']}=={package['version']}"
        for package in lock["package"]
        if "virtual" not in package.get("source", {})
    )


def cached_venv(name: str, build: Callable[[Path], None]) -> Path:
    """The virtualenv VENVS/`name`, made by `build(venv)` unless an earlier run finished it; returns
    its bin dir. A file lock keeps parallel test processes from building the same one twice, and a
    half-built one (no `ready` mark) is built again from scratch."""
    venv = VENVS / name
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(VENVS / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "ready").exists():
            shutil.rmtree(venv, ignore_errors=True)
            build(venv)
            (venv / "ready").touch()
    return venv / "bin"


def project_venv(project: Path, version: str, resolution: str = "highest") -> Path:
    """A virtualenv holding exactly what the bake's uv.lock pins, dev group included, for Python
    `version` (`uv sync --locked`, as `make install` runs it); returns its bin dir.

    Bakes that lock the same packages share one virtualenv (keyed by their hash). `resolution` is
    the one the lock was written with (uv records it, and `--locked` checks it).
    """

    def sync(venv: Path) -> None:
        env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_RESOLUTION": resolution}
        command = [UV, "sync", "--locked", "--quiet", "--python", python_for(version)]
        subprocess.run(command, cwd=project, env=env, check=True)

    key = hashlib.sha256(f"{version} {locked_packages(project)}".encode()).hexdigest()[:12]
    return cached_venv(f"py{version}-{key}", sync)


def exporter_venv(project: Path) -> Path:
    """A virtualenv with the metrics exporter as the Dockerfile's exporter stage installs it: that
    stage's Python, requirements-exporter.txt. Returns its bin dir; shared like project_venv's."""
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    stage = re.search(r"^FROM python:(\d+\.\d+)\S* AS exporter$", dockerfile, flags=re.MULTILINE)
    assert stage, "the Dockerfile has no exporter stage FROM python:<version>..."
    version = stage[1]
    requirements = project / "requirements-exporter.txt"

    def install(venv: Path) -> None:
        subprocess.run([python_for(version), "-m", "venv", str(venv)], check=True)
        # --no-deps: a pin missing from the file fails here instead of drifting in the image.
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
        subprocess.run([*pip, "install", "--no-deps", "--requirement", str(requirements)], check=True)
        subprocess.run([*pip, "check"], check=True)

    key = hashlib.sha256(f"{version} {requirements.read_text(encoding='utf-8')}".encode()).hexdigest()[:12]
    return cached_venv(f"exporter-py{version}-{key}", install)


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    """Run a command; on failure, fail the test with the tail of its output."""
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{output[-6000:]}"
    return output


def run_project_tests(project: Path, bin_dir: Path, broker_url: str, backend_url: str | None) -> str:
    """Run the baked project's own test suite, as its README says, against the given servers."""
    env = {**os.environ, "TEST_BROKER_URL": broker_url}
    if backend_url:
        env["TEST_RESULT_BACKEND"] = backend_url
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return run([str(bin_dir / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q"], project, env)


@pytest.fixture
def bake(cookies: Cookies) -> Bake:
    """Bake with the given answers; fail with cookiecutter's own error when baking fails."""

    def bake_with(**answers: object) -> Path:
        result = cookies.bake(extra_context=answers)
        assert result.exception is None, f"baking {answers} failed: {result.exception!r}"
        return Path(result.project_path)

    return bake_with


# Figures the tests record (record_property), printed at the end: measured, never asserted.
TIMINGS = {
    "generation-timings": "generation with cookiecutter alone: time per bake",  # test_generation.py
    "docker-timings": "docker compose: time per bake",  # test_docker.py
    "drill-figures": "fault drills at the default settings",  # test_drills.py
}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how long each bake took, for each kind of timing recorded."""
    for kind, title in TIMINGS.items():
        lines = {
            str(value): None
            for reports in terminalreporter.stats.values()
            for report in reports
            for name, value in getattr(report, "user_properties", [])
            if name == kind
        }
        if lines:
            terminalreporter.write_sep("-", title)
            for line in sorted(lines):
                terminalreporter.write_line(line)
