"""Generating a project needs cookiecutter and nothing else: no uv, no network, no Python of the
project's version. The lock each bake gets is one of templates/locks/, current with the template
(`make locks`), accepted by `uv lock --check` and installed by `uv sync --locked`."""

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TEMPLATE, UV, cached_venv, project_venv, python_for, run
from locks import LOCKS, dependency_sets

SETS = dependency_sets()
DEFAULT_SET = next(iter(SETS))  # the first combination: every option at its default
# The oldest Python cookiecutter runs on (its Requires-Python): the hooks must run there too.
OLDEST_PYTHON = "3.10"
# A name uv sorts before every package in the lock (the stored locks are made as "celery-tasks").
NAME = "Acme Jobs"


def cookiecutter_alone() -> Path:
    """A virtualenv holding cookiecutter as requirements-render.txt pins it, and nothing else."""
    requirements = TEMPLATE / "requirements-render.txt"

    def install(venv: Path) -> None:
        subprocess.run([python_for(OLDEST_PYTHON), "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "--requirement", str(requirements)], check=True)

    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    return cached_venv(f"cookiecutter-alone-py{OLDEST_PYTHON}-{key}", install)


def offline() -> list[str]:
    """A command prefix that runs its command with no network at all (a network namespace of its own)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare is not installed: apt-get install util-linux", pytrace=False)
    return [unshare, "--net"] if os.geteuid() == 0 else [unshare, "--map-root-user", "--net"]


def test_the_locks_are_the_ones_make_locks_writes() -> None:
    """One folder per dependency set, each with the pyproject.toml and .python-version of that set:
    a template change to the dependencies without `make locks` fails here, and so does an update
    bot's change to a lock folder's pyproject.toml that the template does not make."""
    assert sorted(path.name for path in LOCKS.iterdir()) == sorted(SETS)
    for name, found in SETS.items():
        assert (LOCKS / name / "pyproject.toml").read_text(encoding="utf-8") == found.pyproject, name
        assert (LOCKS / name / ".python-version").read_text(encoding="utf-8") == f"{found.python_version}\n"
        assert (LOCKS / name / "uv.lock").is_file(), f"{name}: run make locks"


@pytest.mark.parametrize("name", SETS)
def test_cookiecutter_alone_renders_each_dependency_set_offline_with_a_lock_that_installs(
    name: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """As a user runs it: the template given by a relative path, from a shell (so $PWD), with
    cookiecutter on PATH and no uv, in a network namespace with no network."""
    answers = SETS[name].answers
    tools = cookiecutter_alone()
    env = {"PATH": f"{tools}:/usr/bin:/bin", "HOME": str(tmp_path), "PWD": str(TEMPLATE)}
    assert shutil.which("uv", path=env["PATH"]) is None, "uv must not be on the user's PATH here"
    words = {True: "yes", False: "no"}
    options = [f"{key}={words.get(value, value)}" for key, value in answers.items()]  # type: ignore[call-overload]
    command = [*offline(), str(tools / "cookiecutter"), "--no-input", ".", "--output-dir", str(tmp_path)]
    start = time.monotonic()
    done = subprocess.run(
        [*command, f"project_name={NAME}", *options],
        cwd=TEMPLATE, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stdout + done.stderr
    record_property("generation-timings", f"{name}: {seconds:.2f} s")

    project = tmp_path / "acme_jobs"
    version = SETS[name].python_version
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert pyproject == SETS[name].pyproject.replace('"celery_tasks"', '"acme_jobs"'), "the answers took"
    assert (project / ".python-version").read_text(encoding="utf-8") == f"{version}\n"
    cruft = (project / ".cruft.json").read_text(encoding="utf-8")
    assert f'"template": "{TEMPLATE}"' in cruft, "the relative template path, made absolute"
    # With the network again: uv (which finds the project's Python by .python-version) finds the
    # lock current, and installs exactly it.
    run([UV, "lock", "--check"], project)
    project_venv(project, version)


def test_make_project_on_a_fresh_clone_needs_only_the_system_python(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """The README's first command as a newcomer runs it: the files a clone has, PATH=/usr/bin:/bin
    (no uv, no pyenv), no pip cache, Enter pressed at every prompt (the defaults)."""
    if not Path("/usr/bin/python3").is_file():
        pytest.fail("/usr/bin/python3 is missing: apt-get install python3 python3-venv", pytrace=False)
    clone = tmp_path / "clone"
    for tracked in run(["git", "ls-files", "-z"], TEMPLATE).split("\0"):
        if tracked and (TEMPLATE / tracked).is_file():
            (clone / tracked).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / tracked, clone / tracked)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PIP_NO_CACHE_DIR": "1"}
    start = time.monotonic()
    done = subprocess.run(
        ["make", "project"], cwd=clone, env=env, input="\n" * 40, capture_output=True, text=True, check=False
    )
    record_property(
        "generation-timings", f"make project, fresh clone, cold: {time.monotonic() - start:.0f} s"
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    project = clone / "out" / "celery_tasks"
    assert (project / "uv.lock").read_text(encoding="utf-8") == (LOCKS / DEFAULT_SET / "uv.lock").read_text(
        encoding="utf-8"
    )
    installed = sorted(path.name for path in (clone / ".venv" / "bin").iterdir())
    assert "cookiecutter" in installed and not {"uv", "kubectl", "pytest"} & set(installed), installed
