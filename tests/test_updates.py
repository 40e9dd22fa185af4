"""Template changes reach a generated project: the post-generation hook records the template and
its commit in .cruft.json, and cruft applies the template's later commits to the project."""

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import TEMPLATE, ProjectServers, project_venv, run, run_project_tests
from test_bake import PYTHON_VERSIONS

# cruft and cookiecutter, from the template's own virtualenv (requirements-dev.txt).
CRUFT = str(Path(sys.executable).parent / "cruft")
COOKIECUTTER = str(Path(sys.executable).parent / "cookiecutter")
# Who commits, in the throwaway repositories.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git_env() -> dict[str, str]:
    return {**os.environ, **GIT_IDENTITY}


def git(folder: Path, *args: str) -> str:
    return run(["git", *args], folder, git_env())


def commit_all(folder: Path, message: str) -> None:
    git(folder, "add", "--all")
    git(folder, "commit", "--quiet", "--message", message)


def test_a_later_template_commit_reaches_a_generated_project_with_cruft_update(
    tmp_path: Path, project_servers: ProjectServers
) -> None:
    cruft = CRUFT
    # A throwaway git copy of the template, at its first commit.
    template = tmp_path / "template"
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".*_cache", ".hypothesis", "out")
    shutil.copytree(TEMPLATE, template, ignore=ignore)
    git(template, "init", "--quiet")
    commit_all(template, "The template as it is")

    # A project made from it as a user makes one, from a shell with the template's relative path
    # (cookiecutter runs the hooks elsewhere), and kept in git.
    answers = {"project_name": "Kept Current", "result_backend": "none"}
    words = shlex.join([COOKIECUTTER, "--no-input", "template", *(f"{k}={v}" for k, v in answers.items())])
    run(["bash", "-c", f"cd {shlex.quote(str(tmp_path))} && {words}"], tmp_path)
    project = tmp_path / "kept_current"
    recorded = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert recorded["template"] == str(template), "the template's absolute path, for cruft update"
    git(project, "init", "--quiet")
    commit_all(project, "Generated")
    run([cruft, "check"], project)  # up to date

    # The template moves on: a new task module, imported where the worker finds tasks.
    package = template / "{{cookiecutter.project_slug}}" / "{{cookiecutter.project_slug}}"
    (package / "tasks" / "hello.py").write_text(
        '"""A task added by a later template commit."""\n\nfrom ..celery import app\n\n\n'
        '@app.task\ndef hello(name: str) -> str:\n    return f"Hello, {name}!"\n',
        encoding="utf-8",
    )
    init = (package / "tasks" / "__init__.py").read_text(encoding="utf-8")
    (package / "tasks" / "__init__.py").write_text(
        init.replace("from . import fetch, primes", "from . import fetch, hello, primes").replace(
            '__all__ = ("fetch", "primes")', '__all__ = ("fetch", "hello", "primes")'
        ),
        encoding="utf-8",
    )
    commit_all(template, "A hello task")
    checked = subprocess.run([cruft, "check"], cwd=project, capture_output=True, text=True, check=False)
    assert checked.returncode != 0, "cruft check sees the new commit"

    run([cruft, "update", "--skip-apply-ask"], project, git_env())

    assert (project / "kept_current" / "tasks" / "hello.py").is_file()
    assert (
        "from . import fetch, hello, primes"
        in (project / "kept_current" / "tasks" / "__init__.py").read_text()
    )
    leftovers = [
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file()
        and ".git" not in path.parts
        and (path.suffix == ".rej" or "<<<<<<<" in path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert leftovers == [], f"conflicts left by the update: {leftovers}"
    run([cruft, "check"], project)  # up to date again
    # The update leaves what it must not touch: the passwords and the lock.
    assert git(project, "status", "--porcelain", "--", ".env", "uv.lock").strip() == ""

    # And the project's own tests still pass.
    bin_dir = project_venv(project, PYTHON_VERSIONS[0])
    output = run_project_tests(project, bin_dir, *project_servers(answers))
    assert output.strip().splitlines()[-1].split()[1] == "passed", output[-2000:]
