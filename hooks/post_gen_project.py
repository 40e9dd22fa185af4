"""After generation: check what was rendered, give the project its own secrets, say what to do next."""

import ast
import json
import os
import runpy
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

# Answers arrive as JSON data, never as Python source. tojson escapes ' (and newlines), so a raw
# single-quoted string holds any answer; the formatter must not swap in double quotes.
ANSWERS = json.loads(r'{{ cookiecutter | tojson }}')  # fmt: skip
# Split so that Jinja, which renders this hook before it runs, does not read them as its own tags.
JINJA = ("{" + "{", "{" + "%", "{" + "#")
NEXT_STEPS = """
Next steps:
  cd {folder}
  docker compose up --build    # the whole stack
  make install test            # the tests, with the servers README.md ("Test") names
"""


def file_problems(root: Path) -> list[str]:
    """Every file is fully rendered, and every Python, YAML and TOML file loads: else the template broke."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # a binary file: nothing to render or parse
            continue
        try:
            if any(opener in text for opener in JINJA):
                found.append(f"{name}: unrendered Jinja ({', '.join(JINJA)}) is left in it.")
            if path.suffix == ".py":
                ast.parse(text, str(name))
            elif path.suffix in {".yaml", ".yml"}:
                list(yaml.safe_load_all(text))  # Kubernetes manifests hold several documents
            elif path.suffix == ".toml":
                tomllib.loads(text)
        except (SyntaxError, ValueError, yaml.YAMLError) as exc:
            found.append(f"{name}: does not load: {' '.join(str(exc).split())[:300]}")
    return found


def compose_problems(compose: dict[str, Any], root: Path) -> list[str]:
    """Services may use only the services, volumes, networks and secrets the file defines, and env files
    that exist.

    Read from the file rather than listed here, so the check holds whichever services the answers chose.
    """
    services = compose.get("services") or {}
    defined = {"service": set(services), "volume": set(compose.get("volumes") or {})}
    defined["network"] = {"default", *(compose.get("networks") or {})}
    defined["secret"] = set(compose.get("secrets") or {})
    found = []
    for name, service in services.items():
        volumes = [
            v if isinstance(v, dict) else {"type": "volume", "source": v.partition(":")[0]}
            for v in service.get("volumes") or []
        ]
        used = {"service": service.get("depends_on") or [], "network": service.get("networks") or []}
        used["secret"] = [
            s if isinstance(s, str) else s.get("source", "") for s in service.get("secrets") or []
        ]
        used["volume"] = [
            v.get("source", "")
            for v in volumes
            if v.get("type") == "volume" and str(v.get("source") or "/")[0] not in "./~$"
        ]
        found += [
            f"compose.yaml: service {name} uses undefined {kind} {ref}."
            for kind, refs in used.items()
            for ref in refs
            if ref not in defined[kind]
        ]
        env_files = service.get("env_file") or []
        for entry in [env_files] if isinstance(env_files, str) else env_files:
            entry = {"path": entry} if isinstance(entry, str) else entry
            if entry.get("required", True) and not (root / str(entry.get("path"))).is_file():
                found.append(f"compose.yaml: service {name} reads a missing env file {entry.get('path')}.")
    return found


def worker_problems(compose: dict[str, Any], queue: str, concurrency: object) -> list[str]:
    """The worker consumes the queue tasks are routed to, with the answered concurrency as the default."""
    expected = [f"--queues={queue}", "--concurrency=${WORKER_CONCURRENCY:-" + f"{concurrency}" + "}"]
    commands = [service.get("command") or [] for service in (compose.get("services") or {}).values()]
    commands = [shlex.split(c) if isinstance(c, str) else [str(a) for a in c] for c in commands]
    workers = [command for command in commands if "worker" in command]
    if not workers:
        return ["compose.yaml: no service runs `celery ... worker`."]
    return [
        f"compose.yaml: a worker command lacks {arg}."
        for command in workers
        for arg in expected
        if arg not in command
    ]


def write_env(root: Path) -> None:
    """Give the project passwords of its own, with the code `make env` runs (scripts/new_env.py)."""
    if not (root / ".env").exists():  # re-generating over a project keeps its passwords
        runpy.run_path(str(root / "scripts" / "new_env.py"))["main"](root)


def write_lock(root: Path) -> str | None:
    """Lock the dependencies with uv, so that the first build and `make install` install exactly
    uv.lock. Returns what went wrong, in two lines, or None."""
    here = str(Path(sys.executable).parent)  # uv installed beside cookiecutter, in a venv not activated
    uv = shutil.which("uv") or shutil.which("uv", path=here)
    if uv is None:
        return "uv is not installed: it writes the project's lock file, uv.lock.\n" + (
            "    Install it (https://docs.astral.sh/uv/), or run cookiecutter with it: uvx cookiecutter ..."
        )
    version = str(ANSWERS["python_version"])
    done = subprocess.run(  # noqa: S603 (an argument list, no shell; the version is one of the choices)
        [uv, "lock", "--quiet", "--python", version], cwd=root, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        why = " ".join(done.stderr.split())[:300]
        return f"uv lock failed: {why}\n    It needs PyPI and Python {version} (which uv finds or downloads)."
    return None


def record_template(root: Path) -> None:
    """Write .cruft.json, as `cruft create` would: the template and the commit this project comes
    from, and the answers, so that `cruft update` can bring the template's later changes here.
    Only when the template is a git checkout (a gh: template is cloned): else there is no commit."""
    template, repo_dir = ANSWERS.get("_template"), str(ANSWERS.get("_repo_dir") or "")
    git = shutil.which("git")
    if not template or not git or (root / ".cruft.json").exists():
        return
    head = subprocess.run(  # noqa: S603 (an argument list, no shell)
        [git, "-C", repo_dir, "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        return
    commit = head.stdout.strip()
    answers = {key: value for key, value in ANSWERS.items() if not key.startswith("_")}
    state = {
        "template": os.path.abspath(template) if os.path.isdir(str(template)) else template,
        "commit": commit,
        "checkout": ANSWERS.get("_checkout"),
        "context": {"cookiecutter": {**answers, "_template": template, "_commit": commit}},
        "directory": None,
        # Never touched by an update: this project's passwords, its lock (`make lock` after an
        # update: the template's render would lock afresh), and this file (cruft rewrites it).
        "skip": [".cruft.json", ".env", "uv.lock"],
    }
    (root / ".cruft.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    root = Path.cwd()
    write_env(root)
    lock_problem = write_lock(root)
    if lock_problem:
        command = shlex.join(["cookiecutter", "--replay", str(ANSWERS.get("_template", "TEMPLATE"))])
        print(
            f"\nThe project was not generated (cookiecutter removes a folder it made):\n{lock_problem}\n"
            f"Then generate it again with the same answers: {command}\n",
            file=sys.stderr,
        )
        return 1
    record_template(root)
    found = file_problems(root)
    compose_file = root / "compose.yaml"
    if compose_file.is_file() and not any(p.startswith("compose.yaml: does not load") for p in found):
        compose = yaml.safe_load(compose_file.read_text(encoding="utf-8")) or {}
        found += compose_problems(compose, root)
        found += worker_problems(compose, ANSWERS["queue_name"], ANSWERS["worker_concurrency"])
    if found:
        why = "    A template bug your answers slipped past: please report it, with your answers."
        print(
            "\nThe generated project failed its checks (cookiecutter removes a folder it made):",
            file=sys.stderr,
        )
        print("".join(f"{problem}\n{why}\n" for problem in found), file=sys.stderr)
        return 1
    print(NEXT_STEPS.format(folder=shlex.quote(str(root))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
