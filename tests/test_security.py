"""The security rules hold for every option combination: nothing exposed, no shared secret."""

import json
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Bake
from test_bake import COMBINATIONS, generated_files

SECRET = re.compile(r"[0-9a-f]{64}")


def env_values(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_every_combination_exposes_nothing_and_shares_no_secret(
    bake: Bake, answers: dict[str, object]
) -> None:
    first, second = bake(**answers), bake(**answers)
    env, other_env = env_values(first / ".env"), env_values(second / ".env")

    # Every password is generated per bake; .env.example carries none.
    passwords = {name: value for name, value in env.items() if name.endswith("_PASSWORD")}
    assert passwords, "no generated password"
    for name, value in passwords.items():
        assert SECRET.fullmatch(value), name
        assert other_env[name] != value, f"{name} is the same in two bakes"
        assert env_values(first / ".env.example")[name] == "", f".env.example holds a value for {name}"

    # No credential is written anywhere but .env: compose reads them all from it.
    for path in generated_files(first):
        if path.name != ".env":
            text = path.read_text(encoding="utf-8")
            assert not any(value in text for value in passwords.values()), path.name
            if path.name in {"compose.yaml", ".env.example", "settings.py"}:
                assert "guest" not in text, f"{path.name} names RabbitMQ's default user"

    # Published ports only on 127.0.0.1.
    compose = yaml.safe_load((first / "compose.yaml").read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"

    # Each image that runs (app, and the metrics exporter's) runs as a non-root, numeric user.
    dockerfile = (first / "Dockerfile").read_text(encoding="utf-8")
    stages = dict(
        re.findall(r"^FROM \S+ AS (\w+)$(.*?)(?=^FROM |\Z)", dockerfile, flags=re.MULTILINE | re.DOTALL)
    )
    assert set(stages) == {"deps", "exporter", "app"}
    for stage in ("exporter", "app"):
        assert re.findall(r"^USER (.+)$", stages[stage], flags=re.MULTILINE) == ["${UID}:${GID}"], stage
        assert re.search(r"^ARG UID=1000$", stages[stage], flags=re.MULTILINE), stage
    assert "USER" not in stages["deps"]

    # .env stays out of git and out of the image (the .dockerignore is an allow-list).
    assert ".env" in (first / ".gitignore").read_text(encoding="utf-8").splitlines()
    dockerignore = (first / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in dockerignore, "the .dockerignore should exclude everything, then allow files back"
    assert not any(line.startswith("!") and ".env" in line for line in dockerignore)

    # Only JSON is accepted: a pickle payload would run code in the worker.
    settings = next(first.glob("*/settings.py")).read_text(encoding="utf-8")
    assert re.findall(r"^(\w*(?:serializer|accept_content)) = (.+)$", settings, flags=re.MULTILINE) == [
        ("task_serializer", '"json"'),
        ("result_serializer", '"json"'),
        ("accept_content", '["json"]'),
        ("result_accept_content", '["json"]'),
    ]


def test_make_env_gives_a_fresh_clone_new_passwords_and_never_overwrites_an_env(bake: Bake) -> None:
    project = bake()
    generated = env_values(project / ".env")

    refused = subprocess.run(
        ["make", "--silent", "env"], cwd=project, capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0
    assert re.fullmatch(
        r".*\.env exists, .*\n    To start afresh, .*\n(make(\[\d+\])?: .*\n)?", refused.stderr
    ), refused.stderr
    assert env_values(project / ".env") == generated

    (project / ".env").unlink()  # a fresh clone: .env is git-ignored
    subprocess.run(["make", "--silent", "env"], cwd=project, capture_output=True, check=True)
    fresh = env_values(project / ".env")
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
    assert fresh.keys() == generated.keys()
    for name, value in fresh.items():
        if name.endswith("_PASSWORD"):
            assert SECRET.fullmatch(value) and value != generated[name], name
        else:
            assert value == generated[name], name


# ${NAME_PASSWORD...} in compose.yaml: the variable, and what follows its name (":?message" or "").
PASSWORD_REFERENCE = re.compile(r"\$\{(\w+_PASSWORD)([^}]*)\}")


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_every_container_gets_only_the_secrets_it_needs_and_none_starts_without_one(
    bake: Bake, answers: dict[str, object], tmp_path: Path
) -> None:
    project = bake(**answers)
    text = (project / "compose.yaml").read_text(encoding="utf-8")
    compose = yaml.safe_load(text)
    services: dict[str, Any] = compose["services"]
    broker = {"redis": "REDIS_PASSWORD", "rabbitmq": "RABBITMQ_PASSWORD"}[str(answers["broker"])]
    backend = {"postgresql": {"POSTGRES_PASSWORD"}, "redis": {"RESULT_REDIS_PASSWORD"}, "none": set()}[
        str(answers["result_backend"])
    ]
    needs = {
        "broker": {broker},
        "backend": backend,
        "worker": {broker, *backend},
        "scheduler": {broker, *backend},
        "flower": {broker, *backend, "FLOWER_PASSWORD"},
        "exporter": {broker},
    }
    for name, service in services.items():
        assert "env_file" not in service, f"{name} would get every variable in .env"
        used = {match[0] for match in PASSWORD_REFERENCE.findall(json.dumps(service))}
        used |= {compose["secrets"][secret]["environment"] for secret in service.get("secrets", [])}
        assert used == needs[name], name
    # Every password is required: an empty or missing one stops compose before anything starts.
    references = PASSWORD_REFERENCE.findall(text)
    assert references and all(rest.startswith(":?") for _, rest in references), references
    if answers["result_backend"] == "postgresql":
        # The image reads the password from a file: a compose secret, not an environment variable.
        environment = services["backend"]["environment"]
        assert "POSTGRES_PASSWORD" not in environment
        assert environment["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"  # noqa: S105
        assert compose["secrets"] == {"postgres_password": {"environment": "POSTGRES_PASSWORD"}}

    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode
    ):
        pytest.fail("This test runs `docker compose config`: install Compose v2 (`bash .ci/docker start`).")
    empty = tmp_path / "empty-password.env"
    dotenv = (project / ".env").read_text(encoding="utf-8")
    empty.write_text(re.sub(rf"(?m)^{broker}=.*$", f"{broker}=", dotenv), encoding="utf-8")
    refused = subprocess.run(
        ["docker", "compose", "--env-file", str(empty), "config", "--quiet"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert f"required variable {broker} is missing a value: run make env" in refused.stderr
    subprocess.run(["docker", "compose", "config", "--quiet"], cwd=project, check=True)
