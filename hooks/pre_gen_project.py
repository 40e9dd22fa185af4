"""Before generation: check every answer, so a typo is refused in two plain lines, not baked in."""

import json
import keyword
import os
import re
import shlex
import sys
import zoneinfo
from collections.abc import Callable

# Answers arrive as JSON data, never as Python source. tojson escapes ' (and newlines), so a raw
# single-quoted string holds any answer; the formatter must not swap in double quotes.
ANSWERS = json.loads(r'{{ cookiecutter | tojson }}')  # fmt: skip
OFFERED = json.loads(r'{{ _cookiecutter | default({}) | tojson }}')  # fmt: skip

# The longest slug and queue name whose generated lines stay within ruff's 110 columns: the
# package's __init__.py docstring holds the slug twice (54 + 2 x 28), the project's
# tests/conftest.py the queue once, in a 69-column line (69 + 41).
MAX_SLUG, MAX_QUEUE = 28, 41
# Names the project imports, or that commonly sit on sys.path: a package with such a name hides them.
SHADOWED = {"amqp", "billiard", "celery", "click", "conftest", "kombu", "psycopg", "psycopg2", "pytest"}
SHADOWED |= {"redis", "requests", "sqlalchemy", "tasks", "test", "tests", "typing", "vine"}
SHADOWED |= sys.stdlib_module_names
IMAGE = re.compile(
    r"(?:(?P<registry>[A-Za-z0-9.-]+(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?P<digest>@sha256:[0-9a-f]{64})?"
)
# Split so that Jinja, which renders this hook before it runs, does not read them as its own tags.
JINJA = ("{" + "{", "{" + "%", "{" + "#")
ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`|~-]+"
EMAIL = re.compile(rf"{ATOM}(?:\.{ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def check_text(value: str, limit: int) -> str | None:
    """Free text (README, pyproject.toml): anything printable on one line, since it lands in one line."""
    if not value.strip():
        return "is empty"
    if value != value.strip():
        return "starts or ends with a space"
    if len(value) > limit:
        return f"is longer than {limit} characters"
    return None


def check_slug(value: str) -> str | None:
    """The slug names the package, `celery -A`, the PostgreSQL role and database and the folder."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", value) or len(value) > MAX_SLUG:
        return f"is not a lowercase Python identifier of at most {MAX_SLUG} characters"
    if keyword.iskeyword(value) or value in SHADOWED:
        return "is a Python keyword or the name of a module the project would then hide"
    return None


def check_queue(value: str) -> str | None:
    """Queue names must mean the same on Redis and RabbitMQ; RabbitMQ reserves the amq. prefix."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value) or len(value) > MAX_QUEUE:
        return f"is not a queue name of at most {MAX_QUEUE} letters, digits, '.', '_' or '-'"
    if value.startswith("amq."):
        return "starts with 'amq.', which RabbitMQ reserves"
    return None


def check_concurrency(value: str) -> str | None:
    """Prompts hand back text, cookiecutter.json an int: both are read as text of decimal digits."""
    if not re.fullmatch(r"[1-9][0-9]?", value) or int(value) > 64:
        return "is not a whole number from 1 to 64"
    return None


def check_image(value: str) -> str | None:
    """A pinned image reference: an untagged or `latest` image changes under a running project."""
    match = IMAGE.fullmatch(value) if len(value) <= 255 else None
    registry = (match and match["registry"]) or ""
    if not match or (not re.search(r"[.:]|^localhost$", registry) and registry.lower() != registry):
        return "is not a Docker image reference"
    if (not match["tag"] and not match["digest"]) or (match["tag"] or "").lower() == "latest":
        return "is not pinned to a tag other than 'latest' or to a digest"
    return None


def check_email(value: str) -> str | None:
    """A plain addr-spec: pyproject.toml holds it unescaped, and tools that read it expect one."""
    return None if EMAIL.fullmatch(value) and len(value) <= 254 else "is not an e-mail address"


def check_timezone(value: str) -> str | None:
    """Celery refuses an unknown zone only when the scheduler starts: catch it now instead."""
    return None if value in zoneinfo.available_timezones() | {"UTC"} else "is not an IANA timezone name"


# A rule: a check returning what is wrong with an answer (None: nothing), and what is allowed.
Rule = tuple[Callable[[str], str | None], str]
RULES: dict[str, Rule] = {  # in prompt order, the order problems are reported in
    "project_name": (lambda v: check_text(v, 80), "Up to 80 characters on one line, e.g. Zoë's Reports."),
    "project_slug": (check_slug, "a-z, 0-9 and _, from a letter, not celery, json...: e.g. reports."),
    "description": (lambda v: check_text(v, 200), "Up to 200 characters on one line, e.g. Sends reports."),
    "author_name": (lambda v: check_text(v, 100), "Up to 100 characters on one line, e.g. Ann O'Hara."),
    "author_email": (check_email, "An address such as ann@example.org."),
    "queue_name": (check_queue, "Letters, digits, '.', '_' and '-', not amq.*, e.g. reports.high."),
    "worker_concurrency": (check_concurrency, "A whole number from 1 to 64, e.g. 4."),
    "broker_image": (check_image, "[registry/]name:tag or name@sha256:digest, e.g. redis:8.10.1-alpine."),
    "backend_image": (check_image, "[registry/]name:tag or name@sha256:digest, e.g. postgres:18.6-alpine."),
    "timezone": (check_timezone, "A name from the IANA database, e.g. Europe/Berlin."),
}


def problems(answers: dict[str, object], offered: dict[str, object]) -> list[str]:
    """Every problem with the answers, each as two lines: what is wrong (quoting it), what is allowed."""
    found = []
    for name in [*RULES, *sorted(set(answers) - set(RULES))]:
        answer = answers.get(name)
        if name.startswith("_") or isinstance(answer, (dict, list, bool, type(None))):
            continue
        if name == "backend_image" and answers.get("result_backend") == "none":
            continue  # no backend service: its image is never used
        value = str(answer)
        shown = repr(value if len(value) <= 60 else value[:60] + "...")
        choices = offered.get(name)
        if isinstance(choices, list):
            what = None if value in map(str, choices) else "is not one of the offered choices"
            allowed = f"One of: {', '.join(map(str, choices))}."
        elif any(opener in value for opener in JINJA):
            what, allowed = f"contains Jinja syntax ({', '.join(JINJA)})", "Text without those three pairs."
        elif any(ord(char) < 32 or 127 <= ord(char) < 160 or char in "\u2028\u2029" for char in value):
            what, allowed = "contains a newline, tab or other control character", "Write it on one line."
        else:
            rule, allowed = RULES.get(name, (lambda v: None, ""))
            what = rule(value)
        if what:
            found.append(f"{name}: {shown} {what}.\n    Allowed: {allowed}")
    return found


def rerun_command(answers: dict[str, object]) -> str | None:
    """How to generate again from the answers given, once the refused ones are fixed.

    Cookiecutter cannot ask a single prompt again, but it saved every answer to its replay file
    before this hook ran; generating from that file asks nothing.
    """
    from cookiecutter.config import get_user_config
    from cookiecutter.replay import get_file_name

    template, repo_dir, output_dir = (answers.get(key) for key in ("_template", "_repo_dir", "_output_dir"))
    if not all(isinstance(value, str) for value in (template, repo_dir, output_dir)):
        return None
    replay_dir = get_user_config()["replay_dir"]
    replay_file = get_file_name(replay_dir, os.path.basename(os.path.abspath(str(repo_dir))))
    if not os.path.isfile(replay_file):
        return None
    command = ["cookiecutter", "--replay-file", replay_file, str(template), "--output-dir", str(output_dir)]
    return f"Fix them in {replay_file}, then generate again without the prompts:\n    {shlex.join(command)}"


def main() -> int:
    found = problems(ANSWERS, OFFERED)
    if found:
        rerun = rerun_command(ANSWERS)
        print("\nThe project was not generated:\n" + "\n".join(found) + "\n", file=sys.stderr)
        if rerun:
            print(rerun + "\n", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
