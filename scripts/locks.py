"""`make locks`: write templates/locks/, the uv.lock of every distinct set of dependencies a bake can
have, which the project's uv.lock template includes at generation (so generating resolves nothing).

Each lock has a folder of its own, with the pyproject.toml and .python-version of a default-named
bake of that set: a plain uv project, which uv (and the update bot) can lock again like any other.
Which folder a bake takes is decided by the uv.lock template alone; this asks it, for every
combination of the answers that change dependencies, and refuses one folder for two sets.
"""

import argparse
import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from jinja2 import BaseLoader, Environment

TEMPLATE = Path(__file__).resolve().parent.parent
PROJECT = TEMPLATE / "{{cookiecutter.project_slug}}"
LOCKS = TEMPLATE / "templates" / "locks"
# The answers that change pyproject.toml's dependencies or its requires-python.
OPTIONS = ("python_version", "broker", "result_backend", "use_flower", "use_sentry")
UV = str(Path(sys.executable).parent / "uv")  # the template's own, from requirements-dev.txt
sys.path.insert(0, str(TEMPLATE / "tests"))
from conftest import show_uv_the_pythons  # noqa: E402  (the tests' way of finding each Python)


class DependencySet(NamedTuple):
    pyproject: str  # pyproject.toml as a default-named bake has it
    python_version: str
    answers: dict[str, object]  # the first combination of OPTIONS that has it


class Asked(BaseLoader):
    """Answers every include with nothing, and keeps the name asked for."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def get_source(self, environment: Environment, template: str) -> tuple[str, None, Callable[[], bool]]:
        self.names.append(template)
        return "", None, lambda: True


def render(answers: dict[str, object]) -> tuple[str, str]:
    """(the lock folder the uv.lock template picks, pyproject.toml's text) for a bake of `answers`."""
    context: dict[str, Any] = generate_context(TEMPLATE / "cookiecutter.json", extra_context=answers)
    context["cookiecutter"] = prompt_for_config(context, no_input=True)
    asked = Asked()
    env = StrictEnvironment(context=context, keep_trailing_newline=True, loader=asked, cache_size=0)
    env.from_string((PROJECT / "uv.lock").read_text(encoding="utf-8")).render(**context)
    pyproject = env.from_string((PROJECT / "pyproject.toml").read_text(encoding="utf-8")).render(**context)
    (name,) = asked.names
    return Path(name).parent.name, pyproject


def dependency_sets() -> dict[str, DependencySet]:
    """Each lock folder and its set, over every combination of OPTIONS."""
    offered = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    choices = [offered[name] if isinstance(offered[name], list) else [False, True] for name in OPTIONS]
    sets: dict[str, DependencySet] = {}
    for values in itertools.product(*choices):
        answers = dict(zip(OPTIONS, values, strict=True))
        folder, pyproject = render(answers)
        found = DependencySet(pyproject, str(answers["python_version"]), answers)
        if sets.setdefault(folder, found).pyproject != pyproject:
            sys.exit(
                f"templates/locks/{folder} would serve two different pyproject.toml files ({answers}).\n"
                "    Make {{cookiecutter.project_slug}}/uv.lock name each set of dependencies apart."
            )
    return sets


def lock(folder: Path, upgrade: bool) -> str:
    command = [UV, "lock", "--quiet", *(["--upgrade"] if upgrade else [])]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    return f"{folder.name}: " + (f"failed: {done.stderr.strip()}" if done.returncode else "locked")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="newest allowed versions, not the locked ones")
    upgrade = parser.parse_args().upgrade
    show_uv_the_pythons()
    sets = dependency_sets()
    LOCKS.mkdir(parents=True, exist_ok=True)
    for stale in sorted(set(path.name for path in LOCKS.iterdir()) - set(sets)):
        shutil.rmtree(LOCKS / stale)
        print(f"{stale}: removed (no bake has these dependencies now)")
    for name, found in sets.items():
        (LOCKS / name).mkdir(exist_ok=True)
        (LOCKS / name / "pyproject.toml").write_text(found.pyproject, encoding="utf-8")
        (LOCKS / name / ".python-version").write_text(f"{found.python_version}\n", encoding="utf-8")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda name: lock(LOCKS / name, upgrade), sorted(sets)))
    print("\n".join(results))
    return 0 if all(result.endswith(": locked") for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
