"""The Kubernetes manifests (deploy/kubernetes) load, and the worker's grace period outlasts the
hard time limit, so a rolling deploy or a scale-down lets running tasks finish."""

from pathlib import Path

import yaml

KUBERNETES = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
# After the hard limit, a stopping worker still stores its last results and closes its connections.
MARGIN = 30


def test_every_manifest_loads() -> None:
    manifests = sorted(KUBERNETES.rglob("*.yaml"))
    assert manifests
    for path in manifests:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        assert documents and all(isinstance(document, dict) for document in documents), path


def test_the_worker_grace_period_outlasts_the_hard_time_limit() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "base" / "kustomization.yaml").read_text(encoding="utf-8"))
    config = dict(
        literal.split("=", 1)
        for generator in kustomization["configMapGenerator"]
        for literal in generator.get("literals", [])
    )
    limit = int(config["CELERY_TASK_TIME_LIMIT"])
    graces = [
        operation["value"]
        for patch in kustomization["patches"]
        if patch["target"] == {"kind": "Deployment", "name": "worker"}
        for operation in yaml.safe_load(patch["patch"])
        if operation["path"] == "/spec/template/spec/terminationGracePeriodSeconds"
    ]
    assert len(graces) == 1, "kustomization.yaml sets the worker's terminationGracePeriodSeconds once"
    assert graces[0] >= limit + MARGIN, f"a {graces[0]} s grace period kills tasks that may run {limit} s"
