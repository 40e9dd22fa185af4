"""After generation: name the lock, give the project its own secrets and template record, check
what was rendered, say what to do next."""

import ast
import json
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml  # PyYAML: cookiecutter's own dependency, so every cookiecutter has it

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10, which cookiecutter still runs on: TOML goes unchecked
    tomllib = None  # type: ignore[assignment]

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
            elif path.suffix == ".toml" and tomllib:
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


def name_the_lock(root: Path) -> None:
    """uv.lock is the template's tested lock for these dependencies (templates/locks/), made for a
    project of the default name. Give the project's own entry (source ".") this project's name, in
    the place uv sorts it, so that uv finds the lock current as it is and never rewrites it."""
    lock = root / "uv.lock"
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    name = re.findall(r'^name = "([^"]+)"$', pyproject, flags=re.MULTILINE)[0]  # [project]'s, first
    normalized = re.sub(r"[-_.]+", "-", name).lower()  # as uv writes names (PEP 503)
    head, *packages = lock.read_text(encoding="utf-8").split("\n[[package]]\n")
    packages = [
        re.sub(r'\Aname = "[^"]+"', f'name = "{normalized}"', package)
        if '\nsource = { virtual = "." }\n' in package
        else package
        for package in packages
    ]
    packages.sort(key=lambda package: package.split('"', 2)[1])  # stable: versions keep their order
    lock.write_text("\n[[package]]\n".join([head, *packages]), encoding="utf-8")


def shell_path(path: str) -> str:
    """`path` as the user typed it, made absolute: cookiecutter passes a template path as given
    (`cookiecutter ../template`) but runs this hook in the new project's folder, not in the
    shell's ($PWD)."""
    return os.path.normpath(os.path.join(os.environ.get("PWD", ""), path))


def record_template(root: Path) -> None:
    """Write .cruft.json, as `cruft create` would: the template and the commit this project comes
    from, and the answers, so that `cruft update` can bring the template's later changes here.
    Only when the template is a git checkout (a gh: template is cloned): else there is no commit.
    Not when cruft itself renders the template (no _repo_dir): it writes the file."""
    template, repo_dir = str(ANSWERS.get("_template") or ""), str(ANSWERS.get("_repo_dir") or "")
    git = shutil.which("git")
    if not template or not repo_dir or not git or (root / ".cruft.json").exists():
        return
    if os.path.isdir(shell_path(template)):
        template = shell_path(template)  # cruft update runs elsewhere: it needs the absolute path
    head = subprocess.run(  # noqa: S603 (an argument list, no shell)
        [git, "-C", shell_path(repo_dir), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        print(f"No .cruft.json (for cruft update): {shell_path(repo_dir)} is not a git checkout.")
        return
    commit = head.stdout.strip()
    answers = {key: value for key, value in ANSWERS.items() if not key.startswith("_")}
    state = {
        "template": template,
        "commit": commit,
        "checkout": ANSWERS.get("_checkout"),
        "context": {"cookiecutter": {**answers, "_template": template, "_commit": commit}},
        "directory": None,
        # Never touched by an update: this project's passwords, its lock (it follows this project's
        # pyproject.toml: `make lock` after an update that changes it), and this file (cruft's own).
        "skip": [".cruft.json", ".env", "uv.lock"],
    }
    (root / ".cruft.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    root = Path.cwd()
    write_env(root)
    name_the_lock(root)
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
