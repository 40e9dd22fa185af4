"""The security rules hold for every option combination: nothing exposed, no shared secret."""

import re
from pathlib import Path

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
