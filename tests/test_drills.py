"""Fault drills at the default settings: the default bake's worker, run with compose.yaml's command
verbatim and its .env as generated (a 300 s time limit), against its own redis-server started with
compose.yaml's flags (append-only file) and the local PostgreSQL. The broker is stopped, the worker
frozen, pool processes killed; what is checked is what the user would see: the healthcheck's exit
code, the results stored in PostgreSQL, the messages in the dead-letter queue, how often a task ran.

The drill tasks are a module added to the bake (tasks/drill.py); each start is a line in a file.
"""

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from compose_env import read_env_file, service_command
from conftest import CACHE, free_port, start_redis
from test_compose_commands import Stack, healthcheck_argv

DRILL_TASKS = '''"""The template's fault drills: each start of a task is a line in drill-runs.log."""

import os
import signal
import time
from pathlib import Path

from ..celery import app

RUNS = Path(__file__).with_name("drill-runs.log")


def note(key: str) -> bool:
    """Write down a start of the task with this key; True if it is the first."""
    first = not RUNS.exists() or f"{key}\\n" not in RUNS.read_text()
    with RUNS.open("a") as runs:
        runs.write(f"{key}\\n")
    return first


@app.task
def hold(key: str, seconds: float) -> str:
    note(key)
    time.sleep(seconds)
    return key


@app.task
def die_once(key: str) -> str:
    if note(key):
        os.kill(os.getpid(), signal.SIGKILL)
    return key


@app.task
def die(key: str) -> None:
    note(key)
    os.kill(os.getpid(), signal.SIGKILL)


@app.task(max_retries=None)
def die_forever(key: str) -> None:
    note(key)
    os.kill(os.getpid(), signal.SIGKILL)


@app.task
def die_while_broken(key: str) -> str:
    note(key)
    if RUNS.with_name("broken").exists():
        os.kill(os.getpid(), signal.SIGKILL)
    return key


@app.task(bind=True)
def retry_later(self, key: str, countdown: float) -> str:
    if note(key):
        raise self.retry(countdown=countdown)
    return key
'''


class RabbitMQNode:
    """A RabbitMQ node of the drill's own, on free ports on 127.0.0.1, which it may stop and start."""

    BIN = Path("/usr/lib/rabbitmq/bin")  # the server itself: Debian's wrapper would drop the environment

    def __init__(self, directory: Path) -> None:
        if not (self.BIN / "rabbitmq-server").is_file():
            pytest.fail("RabbitMQ is not installed: apt-get install rabbitmq-server", pytrace=False)
        self.name, self.port = f"drill-{uuid.uuid4().hex[:8]}@localhost", free_port()
        places = {"MNESIA_BASE": "mnesia", "LOG_BASE": "log", "PID_FILE": "pid", "CONFIG_FILE": "rabbitmq"}
        self.env = {f"RABBITMQ_{key}": str(directory / name) for key, name in places.items()}
        self.env |= {"RABBITMQ_NODENAME": self.name, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1"}
        self.env |= {"RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(free_port())}
        self.env |= {"RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "plugins"), "HOME": str(Path.home())}
        self.env["PATH"] = os.environ["PATH"]
        self.process: subprocess.Popen[bytes] | None = None

    def ctl(self, *args: str) -> None:
        command = [str(self.BIN / "rabbitmqctl"), "-q", "-n", self.name, *args]
        subprocess.run(command, env=self.env, capture_output=True, check=True, timeout=120)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(self.BIN / "rabbitmq-server")],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.ctl("wait", self.env["RABBITMQ_PID_FILE"], "--timeout", "90")  # the pid file, then the app

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.ctl("stop")
            self.process.wait(timeout=60)


class Drill:
    """The default bake's worker and broker, and what a drill does to them and reads back."""

    def __init__(self, directory: Path, time_limit: int | None = None, broker: str = "redis") -> None:
        kind = "rabbitmq" if broker.startswith("rabbitmq") else broker
        self.stack = Stack({"broker": kind, "result_backend": "postgresql"}, directory)
        self.rabbitmq: RabbitMQNode | None = None
        if time_limit:  # as a user sets it: in .env
            env_file = self.stack.project / ".env"
            text = env_file.read_text(encoding="utf-8").replace(
                "\nCELERY_TASK_TIME_LIMIT=300\n", f"\nCELERY_TASK_TIME_LIMIT={time_limit}\n"
            )
            env_file.write_text(text, encoding="utf-8")
            self.stack.dotenv = read_env_file(env_file)
            assert self.stack.dotenv["CELERY_TASK_TIME_LIMIT"] == str(time_limit)
        package = self.stack.project / self.stack.slug / "tasks"
        (package / "drill.py").write_text(DRILL_TASKS, encoding="utf-8")
        init = package / "__init__.py"
        init.write_text(init.read_text(encoding="utf-8") + "from . import drill  # noqa: E402, F401\n")
        self.runs_file = package / "drill-runs.log"
        if broker == "redis":
            self.stack.start_redis_service("broker")
        elif broker == "rabbitmq":  # the machine's RabbitMQ, a user of the drill's own
            self.stack.start_rabbitmq_user()
        else:  # "rabbitmq-own": a node the drill may stop
            self.rabbitmq = RabbitMQNode(directory.parent / "rabbitmq")
            self.rabbitmq.start()
            user, password = self.stack.dotenv["RABBITMQ_USER"], self.stack.dotenv["RABBITMQ_PASSWORD"]
            self.rabbitmq.ctl("add_user", user, password)
            self.rabbitmq.ctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")
            self.stack.hosts["@broker:5672/"] = f"@127.0.0.1:{self.rabbitmq.port}/"
        self.stack.start_postgres_role()
        self.stack.start_celery_service("worker")
        self.dead_letters_queue = f"{self.stack.queue}.dead"
        self.wait_for("SUCCESS", self.send("hold", "ready", 0), within=60)

    # -- doing ------------------------------------------------------------------------------------
    def send(self, task: str, *args: object, **options: object) -> str:
        """Send a drill task as another process would (the worker's environment); its id."""
        send = f"drill.{task}.apply_async({args!r}, **{options!r})"
        code = f"from {self.stack.slug}.tasks import drill; print({send}.id)"
        return self.stack.python(code)

    def restart_worker(self) -> None:
        """docker compose restart worker: SIGTERM (a warm shutdown), then the same command again."""
        assert self.stack.stop("worker") == 0
        self.stack.start_celery_service("worker")

    def kill_worker(self) -> None:
        """The whole worker killed, as a lost machine would be: its pool processes, then itself."""
        worker = self.stack.processes.pop("worker")
        subprocess.run(["pkill", "-KILL", "-P", str(worker.pid)], check=True)
        worker.kill()
        worker.wait()

    def stop_broker(self) -> None:
        if self.rabbitmq:
            self.rabbitmq.stop()
        else:
            assert self.stack.stop("broker") == 0

    def start_broker(self) -> None:
        """The broker again: Redis with compose.yaml's flags, on its port, from its append-only file."""
        if self.rabbitmq:
            self.rabbitmq.start()
            return
        args = service_command(self.stack.services["broker"], self.stack.dotenv)[1:]
        process, _ = start_redis(args, self.stack.project.parent / "broker-data", self.port)
        self.stack.processes["broker"] = process

    # -- reading ----------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.stack.redis_ports["broker"]

    def broker(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.stack.dotenv["REDIS_PASSWORD"])

    def runs(self, key: str) -> int:
        text = self.runs_file.read_text(encoding="utf-8") if self.runs_file.exists() else ""
        return text.splitlines().count(key)

    def status(self, task_id: str) -> str | None:
        stored = self.stack.stored(task_id)
        return stored[0] if stored else None

    def wait_for(self, status: str, task_id: str, within: float) -> float:
        """Seconds until the task's stored status is `status`; fails after `within` seconds."""
        start = time.monotonic()
        while self.status(task_id) != status:
            assert time.monotonic() - start < within, f"{task_id}: not {status} within {within} s"
            time.sleep(0.5)
        return time.monotonic() - start

    def healthy(self) -> bool:
        """compose.yaml's healthcheck, run where the worker runs (its /tmp): does it pass?"""
        argv = healthcheck_argv(self.stack.services["worker"]["healthcheck"]["test"])
        holder = self.stack.holders["worker"]
        enter = ["nsenter", f"--target={holder.pid}", "--mount", "--"]
        done = subprocess.run([*enter, *argv], env=self.stack.environment("worker"), check=False)
        return done.returncode == 0

    def replay(self) -> int:
        """make replay, as it runs in the worker's container: how many it sent back."""
        return int(
            self.stack.python(f"from {self.stack.slug} import app, deadletter; print(deadletter.replay(app))")
        )

    def dead_letters(self) -> int:
        """How many messages the dead-letter queue holds, as the broker counts them."""
        if self.stack.answers["broker"] == "redis":
            return int(self.broker().llen(self.dead_letters_queue))
        listing = subprocess.run(
            ["rabbitmqctl", "-q", "list_queues", "-p", "/", "name", "messages"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        counts = dict(line.split("\t") for line in listing.splitlines() if line.count("\t") == 1)
        return int(counts.get(self.dead_letters_queue, "0"))

    def dead_letter_ids(self) -> list[str]:
        """The ids of the tasks in the dead-letter queue, as the broker holds them."""
        return [
            json.loads(raw)["headers"]["id"] for raw in self.broker().lrange(self.dead_letters_queue, 0, -1)
        ]

    def close(self) -> None:
        self.stack.close()
        if self.rabbitmq:
            self.rabbitmq.stop()


@pytest.fixture
def drill(request: pytest.FixtureRequest) -> Iterator[Drill]:
    """The default bake, running (or with RabbitMQ: parametrize indirectly); a drill marked
    time_limit(N) sets CELERY_TASK_TIME_LIMIT=N in .env."""
    if os.geteuid() != 0:
        pytest.fail(
            "The drills give the worker a private /tmp with unshare: run them as root.", pytrace=False
        )
    marker = request.node.get_closest_marker("time_limit")
    broker = getattr(request, "param", "redis")  # parametrize("drill", [...], indirect=True)
    running = Drill(CACHE / f"drill-{uuid.uuid4().hex[:8]}", marker.args[0] if marker else None, broker)
    try:
        yield running
    finally:
        running.close()


Record = Callable[[str], None]


@pytest.fixture
def record(record_property: Callable[[str, object], None]) -> Record:
    """Note a figure a drill measured, for the summary at the end of the run."""
    return lambda line: record_property("drill-figures", line)


def wait_until(condition: Callable[[], bool], within: float) -> None:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < within, f"not within {within} s"
        time.sleep(0.5)


def poll(seconds: float, every: float, check: Callable[[], Any]) -> list[Any]:
    """check() every `every` seconds for `seconds`: what it returned each time."""
    seen, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        seen.append(check())
        time.sleep(every)
    return seen


@pytest.mark.parametrize("drill", ["redis", "rabbitmq-own"], indirect=True)
def test_a_broker_outage_restarts_no_worker_and_loses_no_task(drill: Drill, record: Record) -> None:
    """The broker stopped for 75 s: the worker's healthcheck passes throughout (it waits for its
    broker, it is not stuck), and the tasks sent before, running or queued, all succeed once it is
    back."""
    keys = [f"outage-{n}" for n in range(3)]  # two run (concurrency 2), one waits in the queue
    ids = [drill.send("hold", key, 5) for key in keys]
    drill.stop_broker()
    probes = poll(75, 5, drill.healthy)
    assert all(probes), "the healthcheck failed while the worker waited for its broker"
    drill.start_broker()
    back = time.monotonic()
    for task_id in ids:
        drill.wait_for("SUCCESS", task_id, within=60)
    done = time.monotonic() - back
    name = drill.stack.answers["broker"]
    assert drill.healthy()
    after = drill.send("hold", "after-outage", 0)
    drill.wait_for("SUCCESS", after, within=30)
    record(
        f"{name} down 75 s: {len(probes)} healthchecks passed; 3 tasks done {done:.0f} s after it was back"
    )


def test_a_task_running_while_redis_restarts_finishes_soon_after(drill: Drill, record: Record) -> None:
    """Redis down 5 s under a running task: the task carries on (it is not cancelled to wait out the
    visibility timeout) and its result is there well within 60 s of Redis's return."""
    task_id = drill.send("hold", "restart", 20)
    while drill.runs("restart") == 0:
        time.sleep(0.2)
    drill.stop_broker()
    time.sleep(5)
    drill.start_broker()
    seconds = drill.wait_for("SUCCESS", task_id, within=60)
    assert drill.runs("restart") == 1
    record(f"Redis restarted (5 s) under a 20 s task: done {seconds:.0f} s after its return, ran once")


def test_a_frozen_worker_fails_its_healthcheck_within_45_seconds(drill: Drill, record: Record) -> None:
    worker = drill.stack.processes["worker"]
    assert drill.healthy()
    worker.send_signal(signal.SIGSTOP)
    try:
        start = time.monotonic()
        while drill.healthy():
            assert time.monotonic() - start < 45, "a frozen worker still passes its healthcheck"
            time.sleep(1)
        record(f"worker frozen (SIGSTOP): healthcheck failing {time.monotonic() - start:.0f} s later")
    finally:
        worker.send_signal(signal.SIGCONT)


def test_a_pool_process_killed_once_costs_its_task_seconds(drill: Drill, record: Record) -> None:
    task_id = drill.send("die_once", "killed-once")
    seconds = drill.wait_for("SUCCESS", task_id, within=30)
    assert drill.runs("killed-once") == 2
    assert drill.dead_letter_ids() == []
    record(f"pool process killed once: SUCCESS {seconds:.0f} s after sending, ran twice")


@pytest.mark.parametrize("task", ["die", "die_forever"])
def test_a_task_that_kills_every_process_ends_as_a_failure_with_one_dead_letter(
    drill: Drill, task: str, record: Record
) -> None:
    """Whatever its max_retries (Celery's default, 3, or None: for ever), within two minutes."""
    task_id = drill.send(task, f"poison-{task}")
    seconds = drill.wait_for("FAILURE", task_id, within=120)
    start = time.monotonic()
    while drill.dead_letter_ids() != [task_id]:
        assert time.monotonic() - start < 10, drill.dead_letter_ids()
        time.sleep(0.2)
    runs = drill.runs(f"poison-{task}")
    time.sleep(10)  # nothing more runs it
    assert drill.runs(f"poison-{task}") == runs == 4
    assert drill.dead_letter_ids() == [task_id]
    record(f"{task} (kills every process): FAILURE {seconds:.0f} s after sending, 4 runs, 1 dead letter")


@pytest.mark.time_limit(5)  # a visibility timeout of 35 s, so that a drill can outwait it
def test_delays_of_several_visibility_timeouts_run_once_each_also_across_a_worker_restart(
    drill: Drill, record: Record
) -> None:
    """A countdown, and a retry with one, three visibility timeouts long: each runs once when due
    (they wait in Redis, not in a worker), also though the worker restarts while they wait."""
    countdown = 3 * 35
    sent = time.monotonic()
    delayed = drill.send("hold", "delayed", 0, countdown=countdown)
    retried = drill.send("retry_later", "retried", countdown)
    time.sleep(countdown / 3)
    drill.restart_worker()
    drill.wait_for("SUCCESS", delayed, within=countdown + 30)
    ran_after = time.monotonic() - sent
    drill.wait_for("SUCCESS", retried, within=30)
    assert ran_after >= countdown - 1, "it ran before it was due"
    time.sleep(35 + 15)  # another visibility timeout and sweep: a message still held would run again
    assert (drill.runs("delayed"), drill.runs("retried")) == (1, 2)
    record(
        f"countdown {countdown} s (visibility timeout 35 s), worker restarted: ran {ran_after:.0f} s after"
    )


@pytest.mark.time_limit(5)
def test_a_killed_worker_s_task_runs_again_within_the_time_limit_plus_60_seconds(
    drill: Drill, record: Record
) -> None:
    task_id = drill.send("hold", "lost", 3)
    while drill.runs("lost") == 0:
        time.sleep(0.2)
    drill.kill_worker()
    drill.stack.start_celery_service("worker")
    seconds = drill.wait_for("SUCCESS", task_id, within=5 + 60)
    assert drill.runs("lost") == 2
    record(
        f"whole worker killed mid-task (time limit 5 s): run again and done {seconds:.0f} s after the kill"
    )


@pytest.mark.parametrize("drill", ["redis", "rabbitmq"], indirect=True)
def test_a_dead_letter_replayed_after_the_fix_succeeds_once_and_one_still_broken_does_not_loop(
    drill: Drill, record: Record
) -> None:
    broken = drill.runs_file.with_name("broken")
    broken.touch()
    task_id = drill.send("die_while_broken", "dead")
    drill.wait_for("FAILURE", task_id, within=120)
    wait_until(lambda: drill.dead_letters() == 1, within=10)
    # Replayed while still broken: its tries again, then back to the dead letters, and no further.
    assert drill.replay() == 1
    wait_until(lambda: drill.runs("dead") == 8 and drill.dead_letters() == 1, within=120)
    time.sleep(10)
    assert (drill.runs("dead"), drill.dead_letters()) == (8, 1)
    # Fixed: replayed, it succeeds, once.
    broken.unlink()
    assert drill.replay() == 1
    seconds = drill.wait_for("SUCCESS", task_id, within=30)
    wait_until(lambda: drill.dead_letters() == 0, within=15)  # RabbitMQ's counts lag a few seconds
    assert drill.runs("dead") == 9
    record(
        f"{drill.stack.answers['broker']}: dead letter replayed after the fix, SUCCESS {seconds:.0f} s later"
    )


@pytest.mark.parametrize("drill", ["redis", "rabbitmq"], indirect=True)
def test_the_readme_s_producer_runs_a_task_by_name_with_none_of_the_project_s_code(
    drill: Drill, tmp_path: Path
) -> None:
    """The generated README's snippet, as a web application would run it: its own process, its own
    folder, the project's package not importable, only the broker URL shared."""
    readme = (drill.stack.project / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Send tasks from another service\n", 1)[1]
    (tmp_path / "producer.py").write_text(section.split("```python\n", 1)[1].split("```", 1)[0])
    python = str(drill.stack.bin_dir / "python")
    env = {
        "PATH": "/usr/bin:/bin",
        "CELERY_BROKER_URL": drill.stack.environment("worker")["CELERY_BROKER_URL"],
    }
    isolated = subprocess.run(
        [python, "-c", f"import {drill.stack.slug}"], cwd=tmp_path, env=env, check=False
    )
    assert isolated.returncode != 0, "the producer could import the project's package"
    sent = subprocess.run(
        [python, "producer.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    drill.wait_for("SUCCESS", sent.stdout.split()[-1], within=30)
