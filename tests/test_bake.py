"""Bake the template and check each project as its user would: it renders completely, parses,
lints clean and passes its own test suite (a real worker, a real Redis, a real PostgreSQL)."""

import itertools
import os
import re
import stat
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import DEFAULTS, UV, Bake, ProjectServers, locked_packages, project_venv, run, run_project_tests

PYTHON_VERSIONS = DEFAULTS["python_version"]

# Non-default answers (options too), with the characters that break careless templates: quotes,
# apostrophes, backslashes, non-ASCII letters.
CUSTOM = {
    "project_name": 'Zoë\'s "Nightly" Reports',
    "description": 'Builds "reports" under C:\\jobs\\nightly; it\'s fine.',
    "author_name": 'Ann "Nan" O\'Hara-Łukasiewicz',
    "author_email": "ann@example.org",
    "python_version": PYTHON_VERSIONS[1],
    "queue_name": "reports.high",
    "worker_concurrency": 3,
    "timezone": "Europe/Berlin",
    "broker": "rabbitmq",
    "result_backend": "redis",
    "use_flower": True,
    "use_sentry": True,
}
# The options (every prompt with a fixed set of answers but the Python version), from cookiecutter.json.
OPTIONS: dict[str, list[object]] = {
    "broker": DEFAULTS["broker"],
    "result_backend": DEFAULTS["result_backend"],
    "use_flower": [False, True],
    "use_sentry": [False, True],
}


def combination_id(combo: dict[str, object]) -> str:
    """A readable id: redis-postgresql-noflower-sentry."""
    return "-".join(
        str(value) if not isinstance(value, bool) else ("" if value else "no") + key.removeprefix("use_")
        for key, value in combo.items()
    )


def covering(options: dict[str, list[object]], every: tuple[str, ...] = ()) -> list[dict[str, object]]:
    """Combinations in which each pair of values of any two options appears at least once, and each
    combination of the options named in `every`. Picked greedily from the full product, first
    combination first (the defaults), so the set is small (all-pairs) and the same on every run."""
    product = [dict(zip(options, values, strict=True)) for values in itertools.product(*options.values())]

    def pairs(combo: dict[str, object]) -> set[tuple[tuple[str, object], tuple[str, object]]]:
        return {((a, combo[a]), (b, combo[b])) for a, b in itertools.combinations(options, 2)}

    def key(combo: dict[str, object]) -> tuple[object, ...]:
        return tuple(combo[option] for option in every)

    uncovered = set().union(*map(pairs, product))
    wanted = {key(combo) for combo in product}
    chosen: list[dict[str, object]] = []
    while uncovered or wanted:
        best = max(product, key=lambda combo: (key(combo) in wanted, len(pairs(combo) & uncovered)))
        chosen.append(best)
        uncovered -= pairs(best)
        wanted.discard(key(best))
    return chosen


# Every combination: for the checks that only render (lint, mentions, security, compose rules).
COMBINATIONS = {
    combination_id(combo): combo
    for combo in (dict(zip(OPTIONS, values, strict=True)) for values in itertools.product(*OPTIONS.values()))
}
# A covering set of pairs, the defaults first: for the bakes that run their own test suites, so an
# option added to cookiecutter.json adds a bake or two, not twice as many.
PAIRS = {combination_id(combo): combo for combo in covering(OPTIONS)}
# Each offered Python once (the defaults bake in PAIRS covers the first), and the custom answers.
BAKES = {
    **{bake_id: {**combo, "python_version": PYTHON_VERSIONS[0]} for bake_id, combo in PAIRS.items()},
    **{f"defaults-python{version}": {"python_version": version} for version in PYTHON_VERSIONS[1:]},
    "custom-answers": CUSTOM,
}
# What each option value brings; a generated file may mention none of the words of an option not chosen.
WORDS = {
    ("broker", "redis"): ["redis", "visibility", "unacked"],
    ("broker", "rabbitmq"): ["rabbitmq", "amqp", "quorum", "consumer_timeout"],
    ("result_backend", "postgresql"): ["postgres", "psycopg", "sqlalchemy"],
    ("result_backend", "redis"): ["redis"],
    ("use_flower", True): ["flower"],
    ("use_sentry", True): ["sentry"],
}
# Data, not prose: lock files name what the dependencies pull in whatever the answers (kombu always
# needs amqp and lists its redis extra, the metrics exporter always needs redis), and .cruft.json
# records every answer by its option's name. Only their comments are held to WORDS.
DATA_FILES = {"requirements-exporter.txt", "uv.lock", ".cruft.json"}


def generated_files(project: Path) -> list[Path]:
    return sorted(path for path in project.rglob("*") if path.is_file() and "__pycache__" not in path.parts)


def assert_fully_rendered(project: Path) -> None:
    leftovers = [
        str(path.relative_to(project))
        for path in generated_files(project)
        if re.search(r"\{\{|\{%|\{#|cookiecutter\.", path.read_text(encoding="utf-8"))
    ]
    assert leftovers == [], f"unrendered Jinja in {leftovers}"


def assert_parses(project: Path) -> None:
    for path in generated_files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            compile(text, str(path), "exec")
        elif path.suffix in {".yaml", ".yml"}:
            list(yaml.safe_load_all(text))
        elif path.suffix == ".toml":
            tomllib.loads(text)


def expected_services(answers: dict[str, object]) -> set[str]:
    services = {"worker", "scheduler", "broker", "exporter"}
    if answers.get("result_backend", OPTIONS["result_backend"][0]) != "none":
        services.add("backend")
    if answers.get("use_flower"):
        services.add("flower")
    return services


def assert_lints_clean(project: Path, answers: dict[str, object]) -> None:
    """Rendered, parsed, ruff-clean, a valid compose file with the chosen services, a clean Dockerfile."""
    assert_fully_rendered(project)
    assert_parses(project)
    tools = Path(sys.executable).parent
    run([str(tools / "ruff"), "check", "--no-cache", "."], project)
    run([str(tools / "ruff"), "format", "--no-cache", "--check", "."], project)
    schemas = {"compose.yaml": "vendor.compose-spec", ".github/dependabot.yml": "vendor.dependabot"}
    for path, schema in schemas.items():
        run([str(tools / "check-jsonschema"), "--builtin-schema", schema, path], project)
    run([str(tools / "hadolint"), "Dockerfile"], project)
    compose = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))
    assert set(compose["services"]) == expected_services(answers)


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_every_combination_renders_and_lints_clean(bake: Bake, answers: dict[str, object]) -> None:
    assert_lints_clean(bake(**answers), answers)


@pytest.mark.parametrize("answers", BAKES.values(), ids=BAKES.keys())
def test_baked_project_lints_clean_and_passes_its_own_tests(
    bake: Bake, project_servers: ProjectServers, answers: dict[str, object]
) -> None:
    project = bake(**answers)
    assert_lints_clean(project, answers)

    bin_dir = project_venv(project, str(answers["python_version"]))
    output = run_project_tests(project, bin_dir, *project_servers(answers))
    summary = output.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed in [\d.]+s( \(.*\))?", summary), summary


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_nothing_mentions_an_option_that_was_not_chosen(bake: Bake, answers: dict[str, object]) -> None:
    project = bake(**answers)
    chosen = {word for (key, value), words in WORDS.items() if answers[key] == value for word in words}
    unchosen = {word for words in WORDS.values() for word in words} - chosen
    for path in generated_files(project):
        text = path.read_text(encoding="utf-8").lower()
        if path.name in DATA_FILES:
            text = "\n".join(line for line in text.splitlines() if line.startswith("#"))
        found = [word for word in unchosen if word in text]
        assert found == [], f"{path.relative_to(project)} mentions {found}, which {answers} did not choose"


def test_defaults_generate_exactly_the_files_the_readme_lists(bake: Bake) -> None:
    project = bake()
    files = {str(path.relative_to(project)) for path in generated_files(project)}
    assert files == {
        ".dockerignore",
        ".env",
        ".cruft.json",
        ".env.example",
        ".github/dependabot.yml",
        ".github/workflows/ci.yml",
        ".gitignore",
        ".pre-commit-config.yaml",
        ".python-version",
        "Dockerfile",
        "Makefile",
        "README.md",
        "compose.yaml",
        "deploy/kubernetes/base/autoscaling.yaml",
        "deploy/kubernetes/base/config.env",
        "deploy/kubernetes/base/kustomization.yaml",
        "deploy/kubernetes/base/kustomizeconfig.yaml",
        "deploy/kubernetes/base/scheduler.yaml",
        "deploy/kubernetes/base/secret.env.example",
        "deploy/kubernetes/base/worker.yaml",
        "deploy/kubernetes/overlays/development/kustomization.yaml",
        "deploy/kubernetes/overlays/development/servers.yaml",
        "pyproject.toml",
        "requirements-exporter.txt",
        "uv.lock",
        "celery_tasks/__init__.py",
        "celery_tasks/celery.py",
        "celery_tasks/deadletter.py",
        "celery_tasks/delays.py",
        "celery_tasks/liveness.py",
        "celery_tasks/loadtest.py",
        "celery_tasks/logs.py",
        "celery_tasks/results.py",
        "celery_tasks/settings.py",
        "celery_tasks/task.py",
        "celery_tasks/tasks/__init__.py",
        "celery_tasks/tasks/fetch.py",
        "celery_tasks/tasks/primes.py",
        "celery_tasks/tasks/sleep.py",
        "scripts/new_env.py",
        "tests/conftest.py",
        "tests/test_delays.py",
        "tests/drill_tasks.py",
        "tests/test_drills.py",
        "tests/test_kubernetes.py",
        "tests/test_liveness.py",
        "tests/test_loadtest.py",
        "tests/test_logs.py",
        "tests/test_results.py",
        "tests/test_settings.py",
        "tests/test_tasks.py",
        "tests/test_worker.py",
    }
    readme = (project / "README.md").read_text(encoding="utf-8")
    for name in files - {"celery_tasks/__init__.py"}:
        top = name.split("/")[0] + "/" if name.startswith("tests/") else name
        assert f"`{top}" in readme, f"README's file table does not mention {name}"


def test_free_text_answers_reach_readme_and_pyproject_intact(bake: Bake) -> None:
    project = bake(**CUSTOM)
    metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert metadata["description"] == CUSTOM["description"]
    assert metadata["authors"] == [{"name": CUSTOM["author_name"], "email": CUSTOM["author_email"]}]
    assert metadata["requires-python"] == f">={CUSTOM['python_version']}"
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# {CUSTOM['project_name']}\n\n{CUSTOM['description']}\n")


def test_worker_consumes_the_prompted_queue_with_the_prompted_concurrency(bake: Bake) -> None:
    project = bake(**CUSTOM)
    command = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))["services"]["worker"]
    assert command["command"][:5] == ["celery", "-A", "zoe_s_nightly_reports", "--quiet", "worker"]
    assert "--queues=reports.high" in command["command"]
    assert "--concurrency=${WORKER_CONCURRENCY:-3}" in command["command"]
    assert "WORKER_CONCURRENCY=3\n" in (project / ".env").read_text(encoding="utf-8")
    settings = (project / "zoe_s_nightly_reports" / "settings.py").read_text(encoding="utf-8")
    assert 'task_default_queue = "reports.high"' in settings


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_compose_file_follows_the_production_rules(bake: Bake, answers: dict[str, object]) -> None:
    project = bake(**answers)
    compose = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    servers = {"broker", "backend"} & set(services)
    assert "version" not in compose
    # The image defaults follow the choices.
    images = {"redis": "redis:", "rabbitmq": "rabbitmq:", "postgresql": "postgres:"}
    assert services["broker"]["image"].startswith(images[str(answers["broker"])])
    if "backend" in services:
        assert services["backend"]["image"].startswith(images[str(answers["result_backend"])])
    assert set(compose["volumes"]) == {f"{name}-data" for name in servers}
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: container_name stops --scale"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"
        assert ":" in service.get("image", "x:1") and not service.get("image", "").endswith(":latest"), name
    for name in servers | ({"flower", "exporter"} & set(services)):
        assert services[name]["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
    for name in {"worker", "scheduler", "flower"} & set(services):
        assert services[name]["command"][:3] == ["celery", "-A", "celery_tasks"]
        assert services[name]["depends_on"]["broker"] == {"condition": "service_healthy"}
    for name in ("worker", "scheduler"):
        assert set(services[name]["depends_on"]) == servers
        conditions = {dependency["condition"] for dependency in services[name]["depends_on"].values()}
        assert conditions == {"service_healthy"}
    # No start-up banner: every line the worker and beat write is a log line (JSON with LOG_FORMAT=json).
    assert services["worker"]["command"][3:5] == ["--quiet", "worker"]
    assert services["scheduler"]["command"][3:5] == ["--quiet", "beat"]
    if "flower" in services:
        assert services["flower"]["ports"] == ["127.0.0.1:${FLOWER_HOST_PORT:-5555}:5555"]
    # The metrics exporter: its own image stage, the workers' broker, published on 127.0.0.1 only.
    exporter = services["exporter"]
    assert exporter["build"]["target"] == "exporter"
    assert exporter["environment"]["CE_BROKER_URL"] == services["worker"]["environment"]["CELERY_BROKER_URL"]
    assert exporter["ports"] == ["127.0.0.1:${EXPORTER_HOST_PORT:-9808}:9808"]
    assert exporter["depends_on"] == {"broker": {"condition": "service_healthy"}}


def test_every_bake_gets_its_own_secrets_in_a_private_env_file(bake: Bake) -> None:
    envs = []
    for _ in range(2):
        project = bake()
        env_file = project / ".env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        values = dict(
            line.split("=", 1) for line in env_file.read_text(encoding="utf-8").splitlines() if "=" in line
        )
        envs.append(values)
        for name in ("REDIS_PASSWORD", "POSTGRES_PASSWORD"):
            assert re.fullmatch(r"[0-9a-f]{64}", values[name]), name
        example = (project / ".env.example").read_text(encoding="utf-8")
        assert "REDIS_PASSWORD=\n" in example and "POSTGRES_PASSWORD=\n" in example
        assert ".env\n" in (project / ".gitignore").read_text(encoding="utf-8")
    assert envs[0]["REDIS_PASSWORD"] != envs[1]["REDIS_PASSWORD"]
    assert envs[0]["POSTGRES_PASSWORD"] != envs[1]["POSTGRES_PASSWORD"]


def test_the_default_bake_passes_its_own_tests_at_the_lowest_versions_it_allows(
    bake: Bake, project_servers: ProjectServers
) -> None:
    """pyproject.toml's floors are honest: locked at them (uv's lowest-direct resolution: the lowest
    allowed version of each direct dependency), the project's own suite passes."""
    project = bake()
    version = PYTHON_VERSIONS[0]
    run([UV, "lock", "--quiet"], project, {**os.environ, "UV_RESOLUTION": "lowest-direct"})
    metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    direct = [*metadata["project"]["dependencies"], *metadata["dependency-groups"]["dev"]]
    floors = dict(re.findall(r"^([\w-]+)(?:\[\w+\])?>=([\w.]+)", "\n".join(direct), flags=re.MULTILINE))
    locked = dict(package.split("==") for package in locked_packages(project))
    above = {name: locked[name] for name, floor in floors.items() if not locked[name].startswith(floor)}
    assert above == {}, f"locked above their floors: {above}"

    bin_dir = project_venv(project, version, resolution="lowest-direct")
    output = run_project_tests(project, bin_dir, *project_servers({}))
    summary = output.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed in [\d.]+s( \(.*\))?", summary), summary
