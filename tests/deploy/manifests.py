"""Reading rendered manifests: objects by kind, containers, environments, NetworkPolicy reach."""

from __future__ import annotations

import importlib.util
import ipaddress
import re
from types import ModuleType
from typing import Any

from tests.deploy import policy
from tests.deploy.conftest import K8S

NS = {"dev": "picopt-dev", "prod": "picopt"}
_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def callgraph() -> ModuleType:
    """deploy/k8s/callgraph.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("callgraph", K8S / "callgraph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def workloads(objects: list[dict]) -> dict[str, dict]:
    """The app's Deployments and CronJobs by name (data services and operators' objects aside)."""
    return {
        o["metadata"]["name"]: o
        for o in objects
        if o["kind"] in {"Deployment", "CronJob"} and o["metadata"]["name"] in callgraph().load()
    }


def container(obj: dict) -> dict:
    return policy.pod_spec(obj)["containers"][0]


def pod_labels(obj: dict) -> dict[str, str]:
    template = (
        obj["spec"]["jobTemplate"]["spec"]["template"]
        if obj["kind"] == "CronJob"
        else obj["spec"]["template"]
    )
    return template["metadata"]["labels"]


def env_of(obj: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container(obj).get("env") or []}


def secret_refs(obj: dict) -> dict[str, tuple[str, str]]:
    """Variable -> (Secret, key) for every secretKeyRef of the container."""
    return {
        name: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for name, e in env_of(obj).items()
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def config(objects: list[dict]) -> dict[str, str]:
    (cm,) = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("picopt-config")
    ]
    return cm["data"]


def environment(
    obj: dict, objects: list[dict], secret: Any = None, overrides: dict[str, str] | None = None
) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env in order,
    `$(VAR)` expanded from what is defined so far. `secret(name, key)` supplies Secret values
    (None: skipped, like an optional Secret that is absent); `overrides` replace ConfigMap
    values before expansion."""
    env: dict[str, str] = {}
    c = container(obj)
    configmaps = by_kind(objects, "ConfigMap")
    for source in c.get("envFrom") or []:
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    env.update(overrides or {})
    for entry in c.get("env") or []:
        if "value" in entry:
            value: str | None = _REFERENCE.sub(
                lambda m: env.get(m.group(1), m.group(0)), entry["value"]
            )
        else:
            ref = entry["valueFrom"]
            if "secretKeyRef" in ref:
                sk = ref["secretKeyRef"]
                value = secret(sk["name"], sk["key"]) if secret else None
                if value is None and not sk.get("optional"):
                    raise KeyError(f"no test value for Secret {sk['name']} key {sk['key']}")
            else:
                cm = ref["configMapKeyRef"]
                value = configmaps[cm["name"]]["data"].get(cm["key"])
        if value is not None:
            env[entry["name"]] = value
    return env


# --- NetworkPolicy ingress semantics ---------------------------------------------------


def _matches(selector: dict, labels: dict) -> bool:
    return selector.get("matchLabels", {}).items() <= labels.items() and not selector.get(
        "matchExpressions"
    )


def allowed(
    policies: list[dict], dst_labels: dict, port: int, src_ns: str, src_labels: dict, ns: str
) -> bool:
    """NetworkPolicy ingress semantics: podSelector, namespaceSelector by name, numeric ports."""
    selecting = [
        p
        for p in policies
        if _matches(p["spec"]["podSelector"], dst_labels)
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True
    for pol in selecting:
        for rule in pol["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and port not in {p["port"] for p in ports}:
                continue
            for peer in rule.get("from") or []:
                pod_sel, ns_sel = peer.get("podSelector"), peer.get("namespaceSelector")
                if pod_sel is not None and ns_sel is None:
                    ok = src_ns == ns and _matches(pod_sel, src_labels)
                elif ns_sel is not None and pod_sel is None:
                    ok = _matches(ns_sel, {"kubernetes.io/metadata.name": src_ns})
                else:
                    ok = False  # combined selectors are not used here; treat as no match
                if ok:
                    return True
    return False


# --- NetworkPolicy egress semantics ----------------------------------------------------


def _peer_matches(peer: dict, ns: str, labels: dict | None, ip: str | None, own_ns: str) -> bool:
    """A pod (`labels` in namespace `ns`) or an address outside the cluster (`ip`)."""
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        if ip is None:
            return False  # pods live in the private ranges the blocks leave out
        address = ipaddress.ip_address(ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if labels is None:
        return False
    pod_sel, ns_sel = peer.get("podSelector"), peer.get("namespaceSelector")
    in_ns = (
        _matches(ns_sel, {"kubernetes.io/metadata.name": ns})
        if ns_sel is not None
        else ns == own_ns
    )
    return in_ns and (pod_sel is None or _matches(pod_sel, labels))


def egress_allowed(
    policies: list[dict],
    src_labels: dict,
    own_ns: str,
    port: int,
    *,
    protocol: str = "TCP",
    ns: str | None = None,
    labels: dict | None = None,
    ip: str | None = None,
) -> bool:
    """NetworkPolicy egress semantics: may a pod with `src_labels` in `own_ns` open a
    connection to a pod (`labels` in `ns`, default its own namespace) or to `ip`?"""
    selecting = [
        p
        for p in policies
        if _matches(p["spec"]["podSelector"], src_labels)
        and "Egress" in p["spec"].get("policyTypes", [])
    ]
    if not selecting:
        return True
    for pol in selecting:
        for rule in pol["spec"].get("egress") or []:
            ports = rule.get("ports")
            if ports and (port, protocol) not in {
                (p["port"], p.get("protocol", "TCP")) for p in ports
            }:
                continue
            peers = rule.get("to")
            if not peers or any(
                _peer_matches(peer, ns or own_ns, labels, ip, own_ns) for peer in peers
            ):
                return True
    return False
