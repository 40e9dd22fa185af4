"""compose.yaml's worker and scheduler commands, run exactly as written, do the job.

There is no Docker engine here. So the broker runs the broker service's own command (on a free
port), the backend is the local PostgreSQL with the role and database from the generated .env, and
only host names and ports are changed: broker:6379 and backend:5432 point at those servers.
"""

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import yaml
from compose_env import read_env_file, service_command, service_environment
from conftest import DEFAULTS, Bake, postgres_admin, project_venv, run, start_redis

QUEUE = "verbatim.q"
# The slug names a PostgreSQL role and database: unique, so parallel runs on one server never meet.
SLUG = f"verbatim_{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def generated_database(env: dict[str, str]) -> Iterator[None]:
    """The role and database named in .env, on the local PostgreSQL; dropped afterwards."""
    admin = postgres_admin()
    user, password, database = env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]

    def drop() -> None:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cursor.execute(f'DROP ROLE IF EXISTS "{user}"')

    drop()
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{user}" LOGIN PASSWORD %s', (password,))
        cursor.execute(f'CREATE DATABASE "{database}" OWNER "{user}"')
    try:
        yield
    finally:
        drop()
        admin.close()


def wait_for_row(
    env: dict[str, str], query: str, params: tuple[object, ...], timeout: float
) -> tuple[Any, ...]:
    """Poll PostgreSQL, as the generated role, until `query` returns a row."""
    deadline = time.monotonic() + timeout
    connection = psycopg2.connect(
        host="127.0.0.1",
        dbname=env["POSTGRES_DB"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
    )
    connection.autocommit = True
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg2.errors.UndefinedTable), connection.cursor() as cursor:
                cursor.execute(query, params)
                row = cursor.fetchone()
                if row:
                    return row
            time.sleep(0.5)
    finally:
        connection.close()
    raise AssertionError(f"no row for {query} {params} within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as `docker compose stop` sends; return the exit code."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def test_worker_and_scheduler_commands_run_verbatim_to_stored_results(bake: Bake, tmp_path: Path) -> None:
    project = bake(project_name=SLUG, queue_name=QUEUE)
    compose = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    dotenv = read_env_file(project / ".env")

    broker_command = service_command(services["broker"], dotenv)
    assert broker_command[0] == "redis-server"
    broker, broker_port = start_redis(broker_command[1:], tmp_path)

    bin_dir = project_venv(project, DEFAULTS["python_version"][0])
    hosts = {"@broker:6379/": f"@127.0.0.1:{broker_port}/", "@backend:5432/": "@127.0.0.1:5432/"}

    def environment_of(name: str) -> dict[str, str]:
        env = service_environment(services[name], project, dotenv)
        for key, value in env.items():
            for host, local in hosts.items():
                env[key] = value = value.replace(host, local)
        # What the image adds (Dockerfile ENV): the virtualenv first on PATH, the source on PYTHONPATH.
        return {**env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(project)}

    processes = []
    try:
        with generated_database(dotenv):
            for name in ("worker", "scheduler"):
                command = service_command(services[name], dotenv)
                # A new container starts with an empty /tmp: no schedule file left by an earlier run.
                for argument in command:
                    if argument.startswith("--schedule="):
                        Path(argument.removeprefix("--schedule=")).unlink(missing_ok=True)
                processes.append(subprocess.Popen(command, cwd=project, env=environment_of(name)))

            # A task sent to the prompted queue: the worker runs it, its row lands in PostgreSQL.
            send = f"from {SLUG}.tasks.primes import count_primes; print(count_primes.delay(1000).id)"
            output = run([str(bin_dir / "python"), "-c", send], project, environment_of("worker"))
            task_id = output.split()[-1]
            status, result, queue = wait_for_row(
                dotenv,
                "SELECT status, convert_from(result, 'UTF8'), queue FROM celery_taskmeta WHERE task_id = %s",
                (task_id,),
                timeout=60,
            )
            assert (status, json.loads(result), queue) == ("SUCCESS", 168, QUEUE)

            # The scheduler sends count_primes(100000) every minute; the worker stores its result.
            status, result = wait_for_row(
                dotenv,
                "SELECT status, convert_from(result, 'UTF8') FROM celery_taskmeta"
                " WHERE name = %s AND convert_from(args, 'UTF8') = %s",
                (f"{SLUG}.tasks.primes.count_primes", "[100000]"),
                timeout=100,
            )
            assert (status, json.loads(result)) == ("SUCCESS", 9592)

            for process in processes:
                assert process.poll() is None, f"{process.args!r} exited early"
            assert [stop(process) for process in processes] == [0, 0]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        broker.terminate()
        broker.wait()
