"""Bake the template and check the generated project's tooling as its user and its CI would use it:
the Makefile's tasks, mypy in strict mode, the pre-commit hooks and the GitHub Actions workflow."""

import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import DEFAULTS, UV, Bake, project_venv, python_for, run
from test_bake import BAKES, COMBINATIONS

TOOLS = Path(sys.executable).parent
WORKFLOW = ".github/workflows/ci.yml"
# Each task the generated Makefile must offer, and a command its dry run must show.
TARGETS = {
    "help": "grep",
    "env": "scripts/new_env.py",
    "install": "uv sync --locked",
    "lock": "uv lock",
    "upgrade": "uv lock --upgrade",
    "lint": "ruff format --check",
    "format": "ruff format",
    "typecheck": "mypy",
    "test": "pytest",
    "check": "mypy",
    "up": "docker compose up --build",
    "replay": "deadletter.replay(app)",
    "loadtest": "docker compose exec worker python -m celery_tasks.loadtest -n 1000 --task sleep",
}
# What CI runs: the same targets, in this order.
CI_TARGETS = ["install", "lint", "typecheck", "test"]
# A server's port as the tests' URLs name it.
DEFAULT_PORTS = {"redis": 6379, "amqp": 5672, "db+postgresql+psycopg2": 5432}


def workflow_job(project: Path, name: str = "check") -> dict[str, Any]:
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    jobs: dict[str, dict[str, Any]] = workflow["jobs"]
    assert list(jobs) == ["check", "compose"]
    return jobs[name]


def published_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(mapping).split(":")[0]) for mapping in service.get("ports", [])}


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_workflow_is_valid_and_starts_exactly_the_chosen_servers(bake: Bake, answers: dict[str, Any]) -> None:
    project = bake(**answers)
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        run([str(TOOLS / "check-jsonschema"), "--builtin-schema", schema, WORKFLOW], project)
    job = workflow_job(project)
    services: dict[str, dict[str, Any]] = job["services"]
    compose = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))["services"]
    expected = {"broker"} | ({"backend"} if answers["result_backend"] != "none" else set())
    assert set(services) == expected
    for name, service in services.items():
        # The answers' images, as compose.yaml uses them.
        assert service["image"] == compose[name]["image"], name
        assert "--health-cmd" in service["options"], f"{name} has no health check: jobs would start early"

    # The tests find each server where the job's TEST_* variables say; those ports are published.
    env: dict[str, str] = job["env"]
    broker = urlsplit(env["TEST_BROKER_URL"])
    assert broker.scheme == {"redis": "redis", "rabbitmq": "amqp"}[answers["broker"]]
    assert (broker.port or DEFAULT_PORTS[broker.scheme]) in published_ports(services["broker"])
    if answers["broker"] == "rabbitmq":
        # RabbitMQ refuses guest from anywhere but localhost: the job brings its own user.
        credentials = services["broker"]["env"]
        assert (broker.username, broker.password) == (
            credentials["RABBITMQ_DEFAULT_USER"],
            credentials["RABBITMQ_DEFAULT_PASS"],
        )
        assert broker.username != "guest"
    if answers["result_backend"] == "none":
        assert "TEST_RESULT_BACKEND" not in env
    else:
        backend = urlsplit(env["TEST_RESULT_BACKEND"])
        scheme = {"redis": "redis", "postgresql": "db+postgresql+psycopg2"}[answers["result_backend"]]
        assert backend.scheme == scheme
        assert (backend.port or DEFAULT_PORTS[scheme]) in published_ports(services["backend"])
        if answers["result_backend"] == "postgresql":
            assert backend.password == services["backend"]["env"]["POSTGRES_PASSWORD"]
    all_ports = [port for service in services.values() for port in published_ports(service)]
    assert len(all_ports) == len(set(all_ports)), f"two services publish the same port: {all_ports}"

    # The job calls the same make targets people do, after the pinned actions; uv is the version
    # the image copies in.
    steps: list[dict[str, Any]] = job["steps"]
    assert [str(step.get("uses")).split("@")[0] for step in steps[:2]] == [
        "actions/checkout",
        "astral-sh/setup-uv",
    ]
    uv_image = re.search(
        r"^COPY --from=ghcr\.io/astral-sh/uv:(\S+) ", (project / "Dockerfile").read_text(), re.M
    )
    assert uv_image and steps[1]["with"]["version"] == uv_image[1]
    runs = [step["run"] for step in steps[2:]]
    if answers["broker"] == "redis" and answers["result_backend"] == "postgresql":
        # The fault drills start a redis-server of their own: the runner needs the binary.
        assert runs.pop(0).startswith("sudo apt-get update && sudo apt-get install --yes redis-server")
    assert runs == [f"make {target}" for target in CI_TARGETS]


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_workflow_builds_the_image_starts_the_stack_and_sends_a_task(
    bake: Bake, answers: dict[str, Any]
) -> None:
    """The compose job runs what the README says, with real images (its smoke step runs in test_docker)."""
    project = bake(**answers)
    job = workflow_job(project, "compose")
    assert "services" not in job, "the stack brings its own servers"
    steps: list[dict[str, Any]] = job["steps"]
    assert str(steps[0]["uses"]).startswith("actions/checkout@")
    runs = [step["run"] for step in steps[1:]]
    assert runs[:2] == ["make env", "docker compose up --build --detach --wait --wait-timeout 180"]
    assert runs[2].startswith("docker compose exec -T worker python - <<'PY'\n")
    assert steps[-1] == {
        "name": "Remove the stack and its volumes",
        "if": "always()",
        "run": "docker compose down --volumes",
    }


def test_workflow_follows_the_answered_python_and_images(bake: Bake) -> None:
    answers = {"python_version": "3.11", "broker_image": "redis:7.2.5-alpine", "result_backend": "redis"}
    project = bake(**answers, backend_image="redis:7.2.4-alpine")
    job = workflow_job(project)
    assert (project / ".python-version").read_text() == "3.11\n", "uv's, pyenv's and make install's Python"
    assert job["services"]["broker"]["image"] == "redis:7.2.5-alpine"
    assert job["services"]["backend"]["image"] == "redis:7.2.4-alpine"
    mypy = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert mypy["python_version"] == "3.11"


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_make_lists_every_task_with_its_description_and_dry_runs_it(
    bake: Bake, answers: dict[str, Any]
) -> None:
    project = bake(**answers)
    for output in (run(["make"], project), run(["make", "help"], project)):
        listed = dict(re.findall(r"^\s+make (\S+)\s+(\S.*)$", output, flags=re.MULTILINE))
        assert set(TARGETS) <= set(listed), output
        assert all(listed.values()), output
    for target, command in TARGETS.items():
        assert command in run(["make", "-n", target], project), target
    dry_check = run(["make", "-n", "check"], project)
    for command in ("ruff check", "ruff format --check", "mypy", "pytest"):
        assert command in dry_check


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_pre_commit_runs_ruff_and_mypy_from_the_projects_environment(
    bake: Bake, answers: dict[str, Any]
) -> None:
    project = bake(**answers)
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    assert set(hooks) == {"ruff-check", "ruff-format", "mypy"}
    for hook in hooks.values():
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "system"
        assert hook["entry"].startswith(".venv/bin/"), "hooks use the tools make install installed"
    assert hooks["mypy"]["pass_filenames"] is False


@pytest.mark.parametrize("answers", BAKES.values(), ids=BAKES.keys())
def test_lint_typecheck_and_commit_hooks_pass_right_after_generation(
    bake: Bake, answers: dict[str, Any], tmp_path: Path
) -> None:
    """`make lint typecheck` and `pre-commit run --all-files`, as a person runs them after `make install`
    (its .venv is the shared virtualenv with this project's dependencies)."""
    project = bake(**answers)
    bin_dir = project_venv(project, str(answers["python_version"]))
    (project / ".venv").symlink_to(bin_dir.parent, target_is_directory=True)
    output = run(["make", "lint", "typecheck"], project)
    assert re.search(r"^Success: no issues found in \d+ source files$", output, flags=re.MULTILINE), output

    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit")}
    run([str(bin_dir / "pre-commit"), "validate-config", ".pre-commit-config.yaml"], project, env)
    run(["git", "init", "--quiet"], project)
    run(["git", "add", "--all"], project)
    hooks = run([str(bin_dir / "pre-commit"), "run", "--all-files", "--color=never"], project, env)
    assert len(re.findall(r"\.Passed$", hooks, flags=re.MULTILINE)) == 3, hooks


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_every_action_is_pinned_to_a_commit_with_its_version_beside_it(
    bake: Bake, answers: dict[str, Any]
) -> None:
    """A tag can be moved to other code; a commit cannot. Dependabot updates both (dependabot.yml)."""
    text = (bake(**answers) / WORKFLOW).read_text(encoding="utf-8")
    uses = re.findall(r"^\s+- uses: (.+)$", text, flags=re.MULTILINE)
    assert uses
    for use in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+", use), use


def test_make_install_uses_the_project_s_python_or_says_at_once_which_one_is_needed(
    bake: Bake, tmp_path: Path
) -> None:
    """On a machine whose python3 is older (here 3.11), `make install` takes the project's Python
    where uv finds it; where uv can neither find nor download it, it stops in seconds, in one line."""
    project = bake()
    version = str(DEFAULTS["python_version"][0])
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "uv").symlink_to(UV)
    env = {
        **os.environ,
        "UV_PYTHON_INSTALL_DIR": str(tmp_path / "pythons"),  # no Python installed by uv
        "UV_PYTHON_DOWNLOADS": "never",  # and none downloaded: this machine cannot reach them
    }
    without = {**env, "PATH": f"{tools}:/usr/bin:/bin"}
    start = time.monotonic()
    done = subprocess.run(
        ["make", "install"], cwd=project, env=without, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert time.monotonic() - start < 30
    said = [line for line in done.stderr.splitlines() if not re.match(r"make(\[\d+\])?: ", line)]
    assert said == [
        f"make install needs Python {version}, which uv could neither find nor download: "
        "install it, then run make install again"
    ]
    assert not (project / ".venv").exists()

    python = Path(python_for(version)).parent
    with_python = {**env, "PATH": f"{tools}:{python}:/usr/bin:/bin"}
    subprocess.run(["make", "install"], cwd=project, env=with_python, capture_output=True, check=True)
    installed = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", "import celery, sys; print(sys.version)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert installed.stdout.startswith(f"{version}.")
