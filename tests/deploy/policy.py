"""Security policy over rendered Kubernetes objects.

The checks the issue asks of the manifests, written out so they run in the
project environment (checkov pins packaging<24, which pytest>=9 cannot share a
venv with; tests/deploy/test_k8s.py also runs checkov when one is installed).
Each function returns human-readable violations; an empty list means compliant.
The rules follow the Kubernetes "restricted" Pod Security Standard plus the
project's own: read-only root filesystem, requests and limits, probes on
long-running containers, pinned image tags, no service-account token, no host
namespaces or hostPath, no secret values in manifests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"}
SECRETISH = re.compile(
    r"(SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|MASTER_KEY|DATABASE_URL|AMQP_URL|ACCESS_KEY)"
)
# `$(VAR)` references (to variables fed from Secrets) and the separators between them.
_REFERENCES_ONLY = re.compile(r"(\$\([A-Za-z_][A-Za-z0-9_]*\)|:)*")


def literal_secret(value: str) -> bool:
    """Does a literal env value hold a secret itself? A URL whose credentials are only `$(VAR)`
    references (e.g. postgresql://$(DB_USER):$(DB_PASSWORD)@host/db) does not."""
    credentials = re.search(r"://([^/@]*)@", value)
    if credentials:
        return _REFERENCES_ONLY.fullmatch(credentials.group(1)) is None
    return _REFERENCES_ONLY.fullmatch(value) is None


def pod_spec(obj: dict) -> dict | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind in WORKLOAD_KINDS:
        return obj["spec"]["template"]["spec"]
    return None


def workloads(objects: list[dict]) -> Iterator[tuple[dict, dict]]:
    for obj in objects:
        spec = pod_spec(obj)
        if spec is not None:
            yield obj, spec


def _id(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def check_workload(obj: dict) -> list[str]:
    spec = pod_spec(obj)
    if spec is None:
        return []
    where = _id(obj)
    bad: list[str] = []
    psc = spec.get("securityContext") or {}
    long_running = obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet"}

    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            bad.append(f"{where}: {flag} is set")
    if spec.get("automountServiceAccountToken") is not False:
        bad.append(f"{where}: automountServiceAccountToken is not false")
    for vol in spec.get("volumes") or []:
        if "hostPath" in vol:
            bad.append(f"{where}: hostPath volume {vol['name']}")
    if (psc.get("seccompProfile") or {}).get("type") not in {"RuntimeDefault", "Localhost"}:
        bad.append(f"{where}: pod seccompProfile is not RuntimeDefault")

    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    for c in containers:
        cid = f"{where}[{c['name']}]"
        sc = c.get("securityContext") or {}
        run_as_non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if run_as_non_root is not True:
            bad.append(f"{cid}: runAsNonRoot is not true")
        if uid == 0:
            bad.append(f"{cid}: runs as uid 0")
        if sc.get("privileged"):
            bad.append(f"{cid}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{cid}: allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            bad.append(f"{cid}: readOnlyRootFilesystem is not true")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            bad.append(f"{cid}: capabilities do not drop ALL")
        if caps.get("add"):
            bad.append(f"{cid}: adds capabilities {caps['add']}")
        image = c.get("image", "")
        tail = image.rsplit("/", 1)[-1]
        if "@sha256:" not in image and (":" not in tail or tail.endswith(":latest")):
            bad.append(f"{cid}: image {image!r} is not pinned to a tag or digest")
        resources = c.get("resources") or {}
        for section in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if res not in (resources.get(section) or {}):
                    bad.append(f"{cid}: no {section}.{res}")
        for env in c.get("env") or []:
            if SECRETISH.search(env["name"]) and literal_secret(env.get("value", "$(X)")):
                bad.append(f"{cid}: secret-like {env['name']} has a literal value")
        if long_running and c in (spec.get("containers") or []):
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in c:
                    bad.append(f"{cid}: no {probe}")
    return bad


def check_objects(objects: list[dict]) -> list[str]:
    """Policy over a whole rendered overlay."""
    bad: list[str] = []
    for obj in objects:
        bad += check_workload(obj)
        if obj["kind"] == "Secret":
            bad.append(f"Secret/{obj['metadata']['name']}: secret values rendered from git")
        if obj["kind"] == "ConfigMap":
            for key in obj.get("data") or {}:
                if SECRETISH.search(key):
                    bad.append(f"ConfigMap/{obj['metadata']['name']}: secret-like key {key}")
        if obj["kind"] == "Service" and obj["spec"].get("type") in {"NodePort", "LoadBalancer"}:
            bad.append(f"Service/{obj['metadata']['name']}: exposed as {obj['spec']['type']}")
    return bad
