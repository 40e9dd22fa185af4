"""`docker compose up` for real: a sample of bakes built, started and driven as their users would.

Each bake's image is built from its Dockerfile and every service runs in a container, with the
images the bake pins: found locally, else pulled, else a local stand-in (`.ci/docker images`; the
template README says how the stand-ins differ). The tests send the example tasks from inside the
stack and read the results where a user would look: SQL in the backend container, a key in the
backend Redis, or — with no backend — the task's effect. Needs a Docker engine with Compose v2:
`bash .ci/docker start` (as root) starts one.
"""

import fcntl
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_env import read_env_file
from conftest import CACHE, DEFAULTS, TEMPLATE, UV, free_port, run
from cookiecutter.main import cookiecutter
from packaging.markers import Marker
from packaging.utils import canonicalize_name
from test_bake import OPTIONS, PYTHON_VERSIONS

# Every value of every option, and two Python versions, at least once (checked below).
BAKES = {
    "defaults": {},
    "rabbitmq-redis-flower-sentry": {
        "broker": "rabbitmq",
        "result_backend": "redis",
        "use_flower": True,
        "use_sentry": True,
        "python_version": PYTHON_VERSIONS[1],
    },
    "redis-none": {"result_backend": "none", "python_version": PYTHON_VERSIONS[2]},
    "rabbitmq-postgresql": {"broker": "rabbitmq", "result_backend": "postgresql"},
}
# The legacy builder: BuildKit fetches its Dockerfile frontend from Docker Hub, which CI cannot reach.
DOCKER_ENV = {"DOCKER_BUILDKIT": "0", "COMPOSE_BAKE": "false"}
# A web server for fetch_url, started inside the scheduler container (`scheduler:8000` on the compose
# network): GET /<seconds>/<name> answers after that many seconds; /tmp/hits lists each request as it
# starts and once it has been answered.
WEB_SERVER = """
import http.server, time
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open("/tmp/hits", "a") as log: log.write(f"start {self.path}\\n")
        time.sleep(float(self.path.split("/")[1]))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
        with open("/tmp/hits", "a") as log: log.write(f"done {self.path}\\n")
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("", 8000), Handler).serve_forever()
"""
PERIODIC_ARGS = [100000]  # what the scheduler sends count_primes every minute (settings.py)
# What the worker container's Python is, for uv's environment markers, and what it has installed.
INSTALLED = """
import importlib.metadata, json, os, platform, sys
where = {
    "implementation_name": sys.implementation.name,
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_python_implementation": platform.python_implementation(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
installed = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
print(json.dumps({"where": where, "installed": installed}))
"""


def docker_problem() -> str | None:
    """Why no Docker engine with Compose v2 can be used here, or None."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    for command in (["docker", "version"], ["docker", "compose", "version"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def docker() -> None:
    """Fail, saying how to get one, when there is no Docker engine with Compose v2."""
    problem = docker_problem()
    if problem:
        pytest.fail(
            f"These tests run `docker compose`, but {problem}.\n"
            "Start an engine and the Compose plugin with `sudo bash .ci/docker start` (Debian's docker.io),\n"
            "or install Docker Engine with Compose v2: https://docs.docker.com/engine/install/",
            pytrace=False,
        )


def ensure_images(images: set[str]) -> None:
    """Each image found locally, else pulled, else a stand-in built; one test process at a time."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "docker-images.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            ["bash", str(TEMPLATE / ".ci" / "docker"), "images", *sorted(images)],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    assert done.returncode == 0, f".ci/docker images {sorted(images)} failed:\n{done.stderr[-4000:]}"


class Stack:
    """One bake, run with `docker compose` as its README says; what a user would type, as methods."""

    def __init__(self, name: str, answers: dict[str, object], directory: Path) -> None:
        self.answers = {**{key: values[0] for key, values in OPTIONS.items()}, **answers}
        # A stable name per bake, so the image's dependency layer is reused from the last run.
        extra = {**answers, "project_name": name}
        self.project = Path(
            cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(directory), extra_context=extra)
        )
        self.slug = self.project.name
        self.compose_file = yaml.safe_load((self.project / "compose.yaml").read_text(encoding="utf-8"))
        self.services = set(self.compose_file["services"])
        # Free host ports for what is published, in .env as a user would set them: bakes run side by side.
        env_file = self.project / ".env"
        text = env_file.read_text(encoding="utf-8")
        for variable in ("FLOWER_HOST_PORT", "EXPORTER_HOST_PORT"):
            text = re.sub(rf"(?m)^{variable}=.*$", f"{variable}={free_port()}", text)
        env_file.write_text(text, encoding="utf-8")
        self.dotenv = read_env_file(self.project / ".env")
        self.env = {**os.environ, **DOCKER_ENV, "COMPOSE_PROJECT_NAME": f"docker-{name}"}
        self.timings: dict[str, float] = {}
        self.started = time.monotonic()
        self.primes_sent = 0  # count_primes tasks sent by the tests, not the scheduler

    def images(self) -> set[str]:
        """The images the bake pins: its services' and its Dockerfile's base."""
        pinned = {
            str(service["image"])
            for service in self.compose_file["services"].values()
            if "build" not in service and "image" in service
        }
        dockerfile = (self.project / "Dockerfile").read_text(encoding="utf-8")
        stages = set(re.findall(r"(?im)^FROM\s+\S+\s+AS\s+(\S+)", dockerfile))
        bases = set(re.findall(r"(?im)^(?:FROM\s+|COPY\s+--from=)(\S+)", dockerfile)) - stages
        return pinned | bases

    def compose(self, *args: str, timeout: float = 300, check: bool = True, stdin: str | None = None) -> str:
        done = subprocess.run(
            ["docker", "compose", *args],
            cwd=self.project,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            logs = subprocess.run(
                ["docker", "compose", "logs", "--tail=30"],
                cwd=self.project, env=self.env, capture_output=True, text=True, timeout=60, check=False,
            ).stdout  # fmt: skip
            pytest.fail(
                f"docker compose {' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}"
                f"{done.stderr[-3000:]}\n--- logs ---\n{logs[-6000:]}",
                pytrace=False,
            )
        return done.stdout

    def timed(self, label: str, *args: str, timeout: float = 300) -> str:
        start = time.monotonic()
        output = self.compose(*args, timeout=timeout)
        self.timings[label] = self.timings.get(label, 0) + time.monotonic() - start
        return output

    def python(self, code: str, service: str = "worker") -> str:
        """`docker compose exec <service> python -c <code>`: the app's code, inside the stack."""
        return self.compose("exec", "-T", service, "python", "-c", code).strip()

    def containers(self, service: str | None = None) -> list[dict[str, Any]]:
        """`docker compose ps --all`, one dict per container."""
        output = self.compose("ps", "--all", "--format", "json", *([service] if service else []))
        return [json.loads(line) for line in output.splitlines() if line.strip()]

    # -- tasks --------------------------------------------------------------------------------------
    def send(self, task: str, *args: object, service: str = "worker") -> str:
        """Send a task by its name in the project; returns its id."""
        module, _, name = task.rpartition(".")
        self.primes_sent += name == "count_primes"
        code = f"from {self.slug}.tasks.{module} import {name}; print({name}.delay(*{list(args)!r}).id)"
        return self.python(code, service)

    def hits(self) -> list[str]:
        """What the web server in the scheduler container has seen, as `start /path` / `done /path`."""
        output = self.compose("exec", "-T", "scheduler", "sh", "-c", "cat /tmp/hits 2>/dev/null || true")
        return output.splitlines()

    def stored(self, task_id: str) -> tuple[str, Any] | None:
        """(status, result) of a task where a user would look it up, or None while there is none."""
        backend = self.answers["result_backend"]
        if backend == "postgresql":
            assert re.fullmatch(r"[0-9a-f-]{36}", task_id), task_id  # a task id, safe inside the SQL
            query = "SELECT status, convert_from(result, 'UTF8') FROM celery_taskmeta WHERE task_id = "
            query += f"'{task_id}'"
            row = self.psql(query)
            if not row:
                return None
            status, result = row.split("|", 1)
            return status, json.loads(result)
        assert backend == "redis", "no result backend: nothing is stored"
        value = self.compose(
            "exec", "-T", "backend", "redis-cli", "--raw", "GET", f"celery-task-meta-{task_id}"
        )
        meta = json.loads(value) if value.strip() else None
        return (meta["status"], meta["result"]) if meta else None

    def psql(self, query: str) -> str:
        """One query through psql in the backend container, as POSTGRES_USER, unaligned output."""
        script = 'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Atq -c "$0" 2>&1 || true'
        output = self.compose("exec", "-T", "backend", "sh", "-c", script, query).strip()
        return "" if 'relation "celery_taskmeta" does not exist' in output else output

    def periodic_runs(self) -> int:
        """How many times a worker ran the scheduler's periodic task, where a user would look."""
        backend = self.answers["result_backend"]
        if backend == "postgresql":
            query = "SELECT count(*) FROM celery_taskmeta WHERE convert_from(args, 'UTF8') = "
            query += f"'{json.dumps(PERIODIC_ARGS)}'"
            return int(self.psql(query) or 0)
        if backend == "redis":
            script = "local v = {} for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
            script += "v[#v + 1] = redis.call('GET', k) end return v"
            output = self.compose(
                "exec", "-T", "backend", "redis-cli", "--raw", "EVAL", script, "0", "celery-task-meta-*"
            )
            metas = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
            return sum(meta.get("args") == PERIODIC_ARGS for meta in metas)
        # No backend: the workers' own count, less the count_primes tasks the tests sent.
        return self.primes_run() - self.primes_sent

    def primes_run(self) -> int:
        name = f"{self.slug}.tasks.primes.count_primes"
        return sum(totals.get(name, 0) for totals in self.task_totals().values())

    def task_totals(self) -> dict[str, dict[str, int]]:
        """`celery inspect stats`: each worker's count of tasks run, by task name."""
        code = (
            f"import json; from {self.slug}.celery import app; "
            "stats = app.control.inspect(timeout=3).stats() or {}; "
            "print(json.dumps({name: worker['total'] for name, worker in stats.items()}))"
        )
        return dict(json.loads(self.python(code, service="scheduler")))

    def broker_messages(self) -> list[str]:
        """The raw messages the broker holds for the project's queue, waiting or (Redis) delivered
        but not acknowledged, read inside the stack with the app's own connection. On RabbitMQ only
        waiting ones can be read without taking them: call it while no worker consumes."""
        queue = str(DEFAULTS["queue_name"])
        if self.answers["broker"] == "redis":
            code = (
                f"import json; from {self.slug}.celery import app\n"
                "with app.connection_for_write() as connection:\n"
                "    client = connection.default_channel.client\n"
                f"    waiting = [m.decode() for m in client.lrange({queue!r}, 0, -1)]\n"
                # kombu keeps each as [message, exchange, routing key]
                f"    held = [e.decode() for e in client.hvals('unacked') if json.loads(e)[2] == {queue!r}]\n"
                "    print(json.dumps(waiting + held))"
            )
            return list(json.loads(self.python(code, service="scheduler")))
        code = (
            f"from {self.slug}.celery import app\n"
            "with app.connection_for_write() as connection:\n"
            f"    print(connection.default_channel.queue_declare({queue!r}, passive=True).message_count)"
        )
        return ["?"] * int(self.python(code, service="scheduler"))  # a count: contents unread

    def queued(self) -> int:
        """How many messages the broker holds for the project's queue (see broker_messages)."""
        return len(self.broker_messages())


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(1)
    return value


@pytest.fixture(scope="class")
def stack(
    request: pytest.FixtureRequest, docker: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A bake, its images available, `docker compose up --build --wait`; left with `down -v`."""
    name: str = request.param
    stack = Stack(name, BAKES[name], tmp_path_factory.mktemp(name))
    ensure_images(stack.images())
    stack.timings["images"] = time.monotonic() - stack.started
    stack.compose("down", "--volumes", "--remove-orphans")  # whatever a failed run left
    stack.timed("build", "build")
    stack.timed(
        "up --wait", "up", "--detach", "--wait", "--wait-timeout", "180", "--pull", "never", timeout=240
    )
    stack.compose("exec", "-d", "scheduler", "python", "-c", WEB_SERVER)
    try:
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", check=False)


def test_the_container_bakes_cover_every_option_value_and_two_pythons() -> None:
    answers = [{**{key: values[0] for key, values in OPTIONS.items()}, **bake} for bake in BAKES.values()]
    for option, values in OPTIONS.items():
        assert {bake[option] for bake in answers} == set(values), option
    assert len({bake.get("python_version", PYTHON_VERSIONS[0]) for bake in answers}) >= 2


@pytest.mark.parametrize(
    "stack",
    [pytest.param(name, marks=pytest.mark.xdist_group(f"docker-{name}")) for name in BAKES],
    indirect=True,
    scope="class",
)
class TestComposeUp:
    """In order, on one running stack per bake: what a user does after `docker compose up --build`."""

    def test_every_service_is_up_and_healthy(self, stack: Stack) -> None:
        containers = stack.containers()
        assert {c["Service"] for c in containers} == stack.services
        assert {c["Service"]: (c["State"], c["Health"]) for c in containers} == dict.fromkeys(
            stack.services, ("running", "healthy")
        )

    def test_every_example_task_sent_from_the_worker_container_stores_its_result(self, stack: Stack) -> None:
        primes = stack.send("primes.count_primes", 1000)
        url = "http://scheduler:8000/0/example"
        fetch = stack.send("fetch.fetch_url", url)
        wait_for(lambda: "done /0/example" in stack.hits(), 60, "fetch_url reached the web server")
        if stack.answers["result_backend"] == "none":
            # Nothing is stored: the effect is the request the web server answered, and the count
            # of the worker (the scheduler's first count_primes comes a minute after it started).
            wait_for(lambda: stack.primes_run() == 1, 30, "the worker ran count_primes")
            return
        assert wait_for(lambda: stack.stored(primes), 60, "count_primes's result") == ("SUCCESS", 168)
        assert wait_for(lambda: stack.stored(fetch), 60, "fetch_url's result") == (
            "SUCCESS",
            {"url": url, "status": 200, "bytes": 2},
        )

    def test_the_image_holds_exactly_the_packages_uv_lock_pins(self, stack: Stack) -> None:
        version = str(stack.answers.get("python_version", PYTHON_VERSIONS[0]))
        export = [UV, "export", "--locked", "--no-dev", "--no-emit-project", "--no-hashes", "--quiet"]
        exported = run([*export, "--format", "requirements-txt", "--python", version], stack.project)
        container = json.loads(stack.compose("exec", "-T", "worker", "python", "-c", INSTALLED))
        pinned = {}
        for line in exported.splitlines():
            requirement, _, marker = line.split("#")[0].strip().partition(";")
            if requirement and (not marker or Marker(marker).evaluate(container["where"])):
                name, _, locked = requirement.strip().partition("==")
                pinned[canonicalize_name(name)] = locked
        installed = {canonicalize_name(name): version for name, version in container["installed"].items()}
        assert installed == pinned

    def test_the_smoke_step_of_the_generated_ci_passes_against_the_stack(self, stack: Stack) -> None:
        workflow = yaml.safe_load((stack.project / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
        steps = [step["run"] for step in workflow["jobs"]["compose"]["steps"] if "run" in step]
        smoke = next(step for step in steps if step.startswith("docker compose exec -T worker python"))
        if stack.answers["result_backend"] == "none":
            stack.primes_sent += 1  # it sends one count_primes
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", smoke], cwd=stack.project, env=stack.env, capture_output=True,
            text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    def test_the_scheduler_s_periodic_task_runs_on_the_worker(self, stack: Stack) -> None:
        # The scheduler sends it a minute after it starts, and every minute after that.
        wait_for(lambda: stack.periodic_runs() >= 1, 100, "the periodic task ran")

    def test_three_workers_share_the_queue_under_one_scheduler_that_sends_each_tick_once(
        self, stack: Stack
    ) -> None:
        stack.timed("scale to 3", "up", "--detach", "--wait", "--wait-timeout", "120", "--pull", "never",
                    "--scale", "worker=3")  # fmt: skip
        assert len(stack.containers("worker")) == 3
        assert len(stack.containers("scheduler")) == 1
        for index in range(12):
            stack.send("fetch.fetch_url", f"http://scheduler:8000/1/share-{index}")
        wait_for(
            lambda: sum(line.startswith("done /1/share-") for line in stack.hits()) == 12, 90, "12 tasks done"
        )
        name = f"{stack.slug}.tasks.fetch.fetch_url"
        shares = {worker: totals.get(name, 0) for worker, totals in stack.task_totals().items()}
        assert len(shares) == 3 and all(shares.values()), f"fetch_url runs per worker: {shares}"
        # The next tick's task runs once: a second scheduler, or a redelivery, would run it twice.
        runs = stack.periodic_runs()
        wait_for(lambda: stack.periodic_runs() > runs, 100, "the next periodic task ran")
        time.sleep(10)
        assert stack.periodic_runs() == runs + 1
        stack.timed("scale to 1", "up", "--detach", "--wait", "--wait-timeout", "120", "--pull", "never",
                    "--scale", "worker=1")  # fmt: skip

    def test_stopping_the_worker_mid_task_lets_the_task_finish_once(self, stack: Stack) -> None:
        task_id = stack.send("fetch.fetch_url", "http://scheduler:8000/5/stop")
        wait_for(lambda: "start /5/stop" in stack.hits(), 60, "the task started")

        stack.timed("stop worker mid-task", "stop", "worker", timeout=120)  # SIGTERM: a warm shutdown

        assert "done /5/stop" in stack.hits(), "the worker stopped before its task finished"
        assert [c["ExitCode"] for c in stack.containers("worker")] == [0], "the worker did not exit cleanly"
        if stack.answers["result_backend"] != "none":
            status, _ = stack.stored(task_id) or (None, None)
            assert status == "SUCCESS"
        if stack.answers["broker"] == "redis":
            # Acknowledged: nothing left to come back after the visibility timeout.
            assert not any(task_id in message for message in stack.broker_messages())
        stack.timed("up after stop", "up", "--detach", "--wait", "--wait-timeout", "120", "--pull", "never")
        time.sleep(5)  # RabbitMQ would hand a message left unacknowledged to the new worker at once
        assert stack.hits().count("start /5/stop") == 1, "the task ran again after the next up"

    def test_tasks_queued_when_the_broker_is_killed_all_run_after_it_restarts(self, stack: Stack) -> None:
        stack.compose("stop", "worker")
        sent = [stack.send("fetch.fetch_url", f"http://scheduler:8000/0/queued-{index}", service="scheduler")
                for index in range(20)]  # fmt: skip
        assert stack.queued() >= 20
        time.sleep(2)  # Redis syncs its append-only file every second

        stack.compose("kill", "--signal", "SIGKILL", "broker")
        stack.timed("broker restart", "up", "--detach", "--wait", "--wait-timeout", "180", "--pull", "never",
                    timeout=240)  # fmt: skip

        def all_done() -> bool:
            hits = stack.hits()
            return all(hits.count(f"done /0/queued-{index}") == 1 for index in range(20))

        wait_for(all_done, 120, "every queued task ran once after the broker came back")
        if stack.answers["result_backend"] != "none":
            assert all((stack.stored(task_id) or ("",))[0] == "SUCCESS" for task_id in sent)

    def test_from_outside_nothing_runs_as_root_holds_env_or_is_published_but_flower_and_metrics(
        self, stack: Stack
    ) -> None:
        for service in {"worker", "scheduler", "flower"} & stack.services:
            assert stack.compose("exec", "-T", service, "id", "-u").strip() != "0", f"{service} runs as root"
        secrets = [value for name, value in stack.dotenv.items() if name.endswith("_PASSWORD")]
        assert secrets
        for path, content in image_files(f"{stack.slug}:dev"):
            assert Path(path).name != ".env", f"the image holds {path}"
            assert not any(secret.encode() in content for secret in secrets), f"{path} holds a password"

        published = {
            c["Service"]: {(p["URL"], p["PublishedPort"]) for p in c["Publishers"] if p["PublishedPort"]}
            for c in stack.containers()
        }
        expected: dict[str, set[tuple[str, int]]] = {name: set() for name in stack.services}
        expected["exporter"] = {("127.0.0.1", int(stack.dotenv["EXPORTER_HOST_PORT"]))}
        if "flower" in stack.services:
            expected["flower"] = {("127.0.0.1", int(stack.dotenv["FLOWER_HOST_PORT"]))}
        assert published == expected
        # The metrics, as Prometheus on this machine scrapes them: the worker is up.
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.dotenv['EXPORTER_HOST_PORT']}/metrics") as page:
            metrics = page.read().decode()
        assert re.search(r"^celery_worker_up\{[^}]*\} 1\.0$", metrics, flags=re.MULTILINE), metrics[-2000:]
        if "flower" in stack.services:
            url = f"http://127.0.0.1:{stack.dotenv['FLOWER_HOST_PORT']}/api/workers"
            login = f"{stack.dotenv['FLOWER_USER']}:{stack.dotenv['FLOWER_PASSWORD']}"
            assert http_status(url) == 401
            assert http_status(url, "admin:wrong") == 401
            assert http_status(url, login) == 200

    def test_down_with_volumes_leaves_nothing_of_the_project(
        self, stack: Stack, record_property: Callable[[str, object], None]
    ) -> None:
        stack.timed("down -v", "down", "--volumes")
        timings = ", ".join(f"{label} {seconds:.0f} s" for label, seconds in stack.timings.items())
        total = time.monotonic() - stack.started
        record_property("docker-timings", f"{stack.slug}: {total:.0f} s in all ({timings})")
        label = f"label=com.docker.compose.project={stack.env['COMPOSE_PROJECT_NAME']}"
        for kind in (["ps", "--all"], ["network", "ls"], ["volume", "ls"]):
            listed = subprocess.run(
                ["docker", *kind, "--quiet", "--filter", label], capture_output=True, text=True, check=True
            ).stdout
            assert listed.strip() == "", f"docker {' '.join(kind)} still lists {listed.split()}"


def image_files(image: str) -> Iterator[tuple[str, bytes]]:
    """Every file of the image as `docker image save` writes it: its config, and each layer's files."""
    saved = subprocess.Popen(["docker", "image", "save", image], stdout=subprocess.PIPE)
    assert saved.stdout is not None
    with tarfile.open(fileobj=saved.stdout, mode="r|") as archive:
        for member in archive:
            data = archive.extractfile(member) if member.isfile() else None
            if data is None:
                continue
            blob = data.read()
            if not tarfile.is_tarfile(io.BytesIO(blob)):  # not a layer: the image's config or manifest
                yield member.name, blob
                continue
            with tarfile.open(fileobj=io.BytesIO(blob)) as layer:
                for entry in layer:
                    inner = layer.extractfile(entry) if entry.isfile() else None
                    yield entry.name, inner.read() if inner else b""
    assert saved.wait() == 0, f"docker image save {image} failed"


def http_status(url: str, login: str | None = None) -> int:
    request = urllib.request.Request(url)  # noqa: S310 (a local http:// URL)
    if login:
        request.add_header("Authorization", "Basic " + b64encode(login.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
