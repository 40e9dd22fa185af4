"""Unit tests of the hooks' rules: each hook is rendered as cookiecutter renders it, then imported."""

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from conftest import DEFAULTS, TEMPLATE
from cookiecutter.environment import StrictEnvironment

# The default answers as cookiecutter renders them: first choices, derived values filled in.
ANSWERS = {name: value for name, value in DEFAULTS.items() if not name.startswith("_")}
ANSWERS |= {name: value[0] for name, value in ANSWERS.items() if isinstance(value, list)}
ANSWERS |= {
    "project_slug": "celery_tasks",
    "broker_image": "redis:7.4.5-alpine",
    "backend_image": "postgres:17.5-alpine",
}
TWO_LINES = re.compile(r"[a-z_]+: .+ [^\n]+\.\n    Allowed: [^\n]+")


def load_hook(name: str, directory: Path, answers: dict[str, object]) -> ModuleType:
    """Render hooks/<name>.py with cookiecutter's own Jinja environment and import the result."""
    context = {"cookiecutter": answers, "_cookiecutter": DEFAULTS}
    source = (TEMPLATE / "hooks" / f"{name}.py").read_text(encoding="utf-8")
    path = directory / f"{name}.py"
    path.write_text(
        StrictEnvironment(context=context).from_string(source).render(**context), encoding="utf-8"
    )
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, f"{path} cannot be imported"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pre(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load_hook("pre_gen_project", tmp_path_factory.mktemp("pre"), ANSWERS)


@pytest.fixture(scope="module")
def post(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load_hook("post_gen_project", tmp_path_factory.mktemp("post"), ANSWERS)


RULE_CASES = {
    "check_slug": (
        ["celery_tasks", "reports2", "a", "s" * 28],
        ["", "My_App", "my-app", "2fast", "_private", "zoë", "class", "json", "celery", "tests", "s" * 29],
    ),
    "check_queue": (
        ["default", "reports.high", "q-1_a", "Q" * 41],
        ["", ".hidden", "my queue", "q;rm", "amq.tasks", "q" * 42, "ünï", "a/b"],
    ),
    "check_concurrency": (["1", "2", "64"], ["0", "65", "-1", "two", "2.5", " 2", "", "007"]),
    "check_image": (
        [
            "redis:7.4.5-alpine",
            "postgres:17.5-alpine",
            "docker.io/library/redis:7",
            "localhost:5000/team/app:1.0",
            "Registry.Example.com/app:v1",
            "redis@sha256:" + "a" * 64,
            "redis:7@sha256:" + "0" * 64,
        ],
        [
            "",
            "redis",
            "redis:latest",
            "redis:LATEST",
            "Redis:7",
            "MyOrg/redis:7",
            "redis:7 ; rm -rf /",
            "$(id):1",
            "redis:-bad",
            "redis@sha256:short",
            "a/" * 130 + "b:1",
        ],
    ),
    "check_email": (
        ["you@example.com", "ann.o'hara+ci@mail.example.org"],
        ["", "ann", "ann@", "@example.org", "a b@example.org", '"ann"@example.org', "ann@localhost"],
    ),
    "check_timezone": (
        ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"],
        ["", "utc", "Mars/Base", "../etc"],
    ),
}


@pytest.mark.parametrize(
    ("rule", "value", "valid"),
    [(rule, value, True) for rule, (good, _) in RULE_CASES.items() for value in good]
    + [(rule, value, False) for rule, (_, bad) in RULE_CASES.items() for value in bad],
    ids=lambda value: repr(value)[:30] if isinstance(value, str) else None,
)
def test_each_rule_accepts_the_allowed_and_names_what_is_wrong(
    pre: ModuleType, rule: str, value: str, valid: bool
) -> None:
    verdict = getattr(pre, rule)(value)
    assert (verdict is None) == valid, verdict
    assert verdict is None or verdict.startswith(("is ", "starts ", "contains "))


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        ('Zoë\'s "Nightly" C:\\reports\\ 🚀', None),
        ("x" * 80, None),
        ("", "is empty"),
        ("   ", "is empty"),
        (" Tasks", "starts or ends with a space"),
        ("x" * 81, "is longer than 80 characters"),
    ],
)
def test_free_text_is_anything_on_one_line_within_its_limit(
    pre: ModuleType, value: str, verdict: str
) -> None:
    assert pre.check_text(value, 80) == verdict


def test_the_defaults_pass_every_rule(pre: ModuleType) -> None:
    assert pre.problems(ANSWERS, DEFAULTS) == []


@pytest.mark.parametrize(
    ("name", "value", "wrong"),
    [
        ("project_name", "a\nb", "contains a newline, tab or other control character"),
        ("description", "tab\there", "contains a newline, tab or other control character"),
        ("author_name", "\x1b[31mred", "contains a newline, tab or other control character"),
        ("project_name", "{{ 7*7 }}", "contains Jinja syntax"),
        ("description", "{% raw %}", "contains Jinja syntax"),
        ("author_name", "{# note #}", "contains Jinja syntax"),
        ("python_version", "2.7", "is not one of the offered choices"),
        ("worker_concurrency", 0, "is not a whole number from 1 to 64"),
        ("a_future_prompt", "line\nbreak", "contains a newline"),
    ],
)
def test_every_problem_is_two_lines_quoting_the_answer(
    pre: ModuleType, name: str, value: object, wrong: str
) -> None:
    [problem] = pre.problems({**ANSWERS, name: value}, DEFAULTS)
    assert TWO_LINES.fullmatch(problem), problem
    assert problem.startswith(f"{name}: {str(value)!r} {wrong}")


def test_the_backend_image_is_not_checked_when_results_are_stored_nowhere(pre: ModuleType) -> None:
    answers = {**ANSWERS, "result_backend": "none", "backend_image": "none"}
    assert pre.problems(answers, DEFAULTS) == []
    [problem] = pre.problems({**answers, "result_backend": "redis"}, DEFAULTS)
    assert problem.startswith("backend_image: 'none' is not pinned")


def test_all_problems_are_reported_at_once_in_prompt_order(pre: ModuleType) -> None:
    answers = {**ANSWERS, "timezone": "Mars/Base", "project_slug": "json", "worker_concurrency": "0"}
    found = pre.problems(answers, DEFAULTS)
    assert [problem.split(":")[0] for problem in found] == ["project_slug", "worker_concurrency", "timezone"]


def test_main_prints_every_problem_to_stderr_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = load_hook("pre_gen_project", tmp_path, {**ANSWERS, "queue_name": "amq.x", "timezone": ""})
    assert hook.main() == 1
    err = capsys.readouterr().err
    assert "queue_name: 'amq.x' starts with 'amq.', which RabbitMQ reserves.\n    Allowed: " in err
    assert "timezone: '' is not an IANA timezone name.\n    Allowed: " in err


HOSTILE = {
    "quotes": 'it\'s "quoted" \'\'\'"""',
    "backslashes": "C:\\new\\table\\",
    "jinja": "{{ cookiecutter }} {% if %} {# #} {% raw %}",
    "newlines": "a\nb\r\nc\u2028d",
    "code": "'); open('owned', 'w') #\n')\nopen('owned', 'w')\n#",
    "fstring": "{__import__('os').getcwd()}",
}


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("hook", ["pre_gen_project", "post_gen_project"])
def test_answers_reach_the_hooks_as_data_never_as_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    answers: dict[str, object] = dict.fromkeys(ANSWERS, value)
    module = load_hook(hook, tmp_path, answers)
    assert answers == module.ANSWERS
    assert not (tmp_path / "owned").exists()


def test_post_gen_finds_files_that_do_not_load_or_hold_jinja(post: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "bad.py").write_text("def f(:\n")
    (tmp_path / "good.py").write_text("x = 1\n")
    (tmp_path / "bad.yaml").write_text("a: [1\n")
    (tmp_path / "bad.toml").write_text("a = \n")
    (tmp_path / "README.md").write_text("# {" + "{ cookiecutter.project_name }}\n")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff{" + b"{")
    found = post.file_problems(tmp_path)
    assert [problem.split(":")[0] for problem in found] == ["README.md", "bad.toml", "bad.yaml", "pkg/bad.py"]
    assert "unrendered Jinja" in found[0]
    assert all("does not load" in problem for problem in found[1:])


COMPOSE = """
services:
  worker:
    command: ["celery", "-A", "x", "worker", "--queues=default", "--concurrency=${WORKER_CONCURRENCY:-2}"]
    env_file: ".env"
    depends_on: {broker: {condition: service_healthy}}
    volumes: ["data:/data", "./src:/src", "/anonymous"]
  broker:
    image: "redis:7"
    volumes: [{type: volume, source: data, target: /data}, {type: bind, source: ., target: /x}]
    networks: [default]
volumes: {data: {}}
"""


def test_post_gen_accepts_a_consistent_compose_file(post: ModuleType, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("")
    compose = yaml.safe_load(COMPOSE)
    assert post.compose_problems(compose, tmp_path) == []
    assert post.worker_problems(compose, "default", 2) == []


def test_post_gen_names_every_undefined_reference_in_compose(post: ModuleType, tmp_path: Path) -> None:
    compose = yaml.safe_load(COMPOSE)
    compose["services"]["worker"]["depends_on"] = ["broker", "backend"]
    compose["services"]["worker"]["volumes"].append("logs:/logs")
    compose["services"]["worker"]["networks"] = ["internal"]
    compose["services"]["worker"]["secrets"] = ["db_password"]
    compose["services"]["broker"]["env_file"] = [{"path": "optional.env", "required": False}]
    assert post.compose_problems(compose, tmp_path) == [
        "compose.yaml: service worker uses undefined service backend.",
        "compose.yaml: service worker uses undefined network internal.",
        "compose.yaml: service worker uses undefined secret db_password.",
        "compose.yaml: service worker uses undefined volume logs.",
        "compose.yaml: service worker reads a missing env file .env.",
    ]


def test_post_gen_checks_the_worker_queue_and_concurrency_default(post: ModuleType) -> None:
    compose = yaml.safe_load(COMPOSE)
    assert post.worker_problems(compose, "reports", 3) == [
        "compose.yaml: a worker command lacks --queues=reports.",
        "compose.yaml: a worker command lacks --concurrency=${WORKER_CONCURRENCY:-3}.",
    ]
    compose["services"]["worker"]["command"] = (
        "celery -A x worker --queues=q --concurrency=${WORKER_CONCURRENCY:-4}"
    )
    assert post.worker_problems(compose, "q", "4") == []
    del compose["services"]["worker"]
    assert post.worker_problems(compose, "q", 4) == ["compose.yaml: no service runs `celery ... worker`."]
