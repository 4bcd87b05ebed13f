"""Kubernetes manifests: render every overlay, validate schemas, check policy and wiring."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest

from tests.deploy import policy
from tests.deploy.conftest import DEPLOY, OVERLAYS

# The runtime contract the services are written to (issue 8).
PROCESSES = {
    # deployment: (command, probe port, probe kind). gRPC probes use the plaintext
    # health port (GRPC_HEALTH_PORT), which answers the same with mTLS on.
    "gateway": (["python", "-m", "services.gateway"], 8080, "http"),
    "auth": (["python", "-m", "services.auth"], 50070, "grpc"),
    "billing": (["python", "-m", "services.billing"], 50070, "grpc"),
    "processor-api": (["python", "-m", "services.processor", "api"], 50070, "grpc"),
    "processor-worker": (["python", "-m", "services.processor", "worker"], 50070, "grpc"),
    "vision": (["python", "-m", "services.vision"], 50070, "grpc"),
    "retention": (["python", "-m", "services.retention"], 50070, "grpc"),
}
# gRPC servers and who may call them (dest deployment -> (port, caller deployments)).
CALLERS = {
    "auth": (50051, {"gateway", "retention", "retention-sweep"}),
    "billing": (
        50052,
        {"gateway", "processor-api", "processor-worker", "retention", "retention-sweep"},
    ),
    "processor-api": (50053, {"gateway", "retention", "retention-sweep"}),
    "vision": (50054, {"retention", "retention-sweep"}),
    "retention": (50055, {"gateway"}),
}
ADDR_VARS = {
    "AUTH_ADDR": "auth",
    "BILLING_ADDR": "billing",
    "PROCESSOR_ADDR": "processor-api",
    "VISION_ADDR": "vision",
    "RETENTION_ADDR": "retention",
}
# The gateway writes uploads and reads results.
BLOB_USERS = {"gateway", "processor-api", "processor-worker", "vision", "retention"}
CRD_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("postgresql.cnpg.io/v1", "Cluster"),
}
K8S_VERSIONS = ("1.30", "1.37")
NS = {"dev": "picopt-dev", "prod": "picopt"}


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def container(obj: dict) -> dict:
    return policy.pod_spec(obj)["containers"][0]


def env_of(obj: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container(obj).get("env") or []}


def config(objects: list[dict]) -> dict[str, str]:
    (cm,) = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("picopt-config")
    ]
    return cm["data"]


# --- rendering and schemas ---------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_workload(rendered, overlay):
    objects = rendered[overlay]
    deployments = by_kind(objects, "Deployment")
    assert set(PROCESSES) <= set(deployments)
    for kind in (
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Ingress",
        "CronJob",
        "HorizontalPodAutoscaler",
        "ScaledObject",
        "TriggerAuthentication",
        "Namespace",
    ):
        assert by_kind(objects, kind), f"{overlay}: no {kind}"
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert {o["metadata"].get("namespace") for o in namespaced} == {NS[overlay]}
    (ns,) = by_kind(objects, "Namespace").values()
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_objects_validate_against_kubernetes_schemas(rendered, overlay, version):
    skipped = set()
    for obj in rendered[overlay]:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            skipped.add((obj["apiVersion"], obj["kind"]))
        except kubernetes_validate.ValidationError as err:
            pytest.fail(
                f"{overlay} {obj['kind']}/{obj['metadata']['name']} (k8s {version}): "
                f"{err.message} at {list(err.path)}"
            )
    # Only the known CRDs may lack a schema (a typo in a core kind must fail).
    assert skipped <= CRD_KINDS, skipped - CRD_KINDS


def test_schema_validation_rejects_a_broken_object(rendered):
    deployment = copy.deepcopy(by_kind(rendered["dev"], "Deployment")["auth"])
    container(deployment)["readinessProbe"]["grpc"]["port"] = "fifty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.37", strict=True)


# --- security policy ---------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_security_policy(rendered, overlay):
    assert policy.check_objects(rendered[overlay]) == []


def test_policy_rejects_insecure_settings(rendered):
    deployment = copy.deepcopy(by_kind(rendered["prod"], "Deployment")["gateway"])
    spec = policy.pod_spec(deployment)
    c = spec["containers"][0]
    c["securityContext"]["readOnlyRootFilesystem"] = False
    c["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"]}
    c["image"] = "picopt/gateway:latest"
    del c["resources"]["limits"]
    del c["livenessProbe"]
    c["env"].append({"name": "AUTH_SECRET", "value": "hunter2"})
    spec["automountServiceAccountToken"] = True
    spec["hostNetwork"] = True
    spec["securityContext"]["runAsNonRoot"] = False
    c["securityContext"].pop("runAsNonRoot")
    found = "\n".join(policy.check_workload(deployment))
    for expected in (
        "readOnlyRootFilesystem",
        "drop ALL",
        "adds capabilities",
        "not pinned",
        "limits.cpu",
        "livenessProbe",
        "AUTH_SECRET",
        "automountServiceAccountToken",
        "hostNetwork",
        "runAsNonRoot",
    ):
        assert expected in found
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "x"},
        "data": {"a": "Yg=="},
    }
    assert policy.check_objects([secret])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_pods_run_as_uid_10001_with_writable_tmp_only(rendered, overlay):
    apps = [
        o
        for o in rendered[overlay]
        if o["kind"] in {"Deployment", "CronJob"}
        and o["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "picture-optimizer"
        and o["metadata"]["name"] in {*PROCESSES, "retention-sweep"}
    ]
    assert len(apps) == len(PROCESSES) + 1
    for obj in apps:
        spec = policy.pod_spec(obj)
        assert spec["securityContext"]["runAsUser"] == 10001
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container(obj)["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]
        assert set(mounts) <= {"/tmp", "/data/blobs"}
    assert config(rendered[overlay])["VAR_DIR"].startswith("/tmp/")


@pytest.mark.skipif(
    not (os.environ.get("CHECKOV") or Path(".venv-checkov/bin/checkov").exists()),
    reason="checkov not installed (it cannot share the project venv: see deploy/README.md)",
)
def test_checkov_passes(rendered, tmp_path):
    import yaml

    binary = os.environ.get("CHECKOV") or ".venv-checkov/bin/checkov"
    for overlay, objects in rendered.items():
        (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(objects))
    for args in (
        ["-d", str(tmp_path), "--framework", "kubernetes"],
        ["-d", str(DEPLOY / "docker"), "--framework", "dockerfile"],
    ):
        result = subprocess.run(
            [binary, "--config-file", str(DEPLOY / "checkov.yaml"), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# --- processes, ports, probes ------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_processes_commands_and_probes(rendered, overlay):
    deployments = by_kind(rendered[overlay], "Deployment")
    for name, (command, port, kind) in PROCESSES.items():
        c = container(deployments[name])
        assert c["command"] + c.get("args", []) == command, name
        assert port in {p["containerPort"] for p in c["ports"]}, name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if kind == "grpc":
                assert c[probe]["grpc"]["port"] == port, (name, probe)
            else:
                assert c[probe]["httpGet"]["port"] in {"http", port}
        if kind == "http":
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert 9090 in {p["containerPort"] for p in c["ports"]}, name
    # processor API and workers: two Deployments, one image
    assert (
        container(deployments["processor-api"])["image"]
        == container(deployments["processor-worker"])["image"]
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_addresses_match_the_servers(rendered, overlay):
    objects = rendered[overlay]
    deployments = by_kind(objects, "Deployment")
    services = by_kind(objects, "Service")
    cfg = config(objects)
    for var, deployment in ADDR_VARS.items():
        host, port = cfg[var].rsplit(":", 1)
        svc = services[host]
        selected = [
            n
            for n, d in deployments.items()
            if svc["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert selected == [deployment], (var, selected)
        svc_ports = {p["port"]: p for p in svc["spec"]["ports"]}
        assert int(port) in svc_ports, var
        target = svc_ports[int(port)]["targetPort"]
        named = {p["name"]: p["containerPort"] for p in container(deployments[deployment])["ports"]}
        assert named.get(target, target) == int(port)
        assert cfg[f"{deployment.split('-')[0].upper()}_GRPC_PORT"] == port
    assert cfg["GRPC_HOST"] == "0.0.0.0" and cfg["GATEWAY_HOST"] == "0.0.0.0"
    assert cfg["GATEWAY_PORT"] == "8080" and cfg["METRICS_PORT"] == "9090"
    assert cfg["WORKER_HEALTH_PORT"] == "50060"
    assert cfg["GRPC_HEALTH_PORT"] == "50070"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_pdb_and_config_and_secret_refs(rendered, overlay):
    objects = rendered[overlay]
    pdbs = by_kind(objects, "PodDisruptionBudget")
    for name in PROCESSES:
        d = by_kind(objects, "Deployment")[name]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert any(
            p["spec"]["selector"]["matchLabels"].items() <= labels.items() for p in pdbs.values()
        ), name
        c = container(d)
        assert c["envFrom"][0]["configMapRef"]["name"].startswith("picopt-config")
        env = env_of(d)
        for var in ("DATABASE_URL", "AMQP_URL"):
            assert "secretKeyRef" in env[var]["valueFrom"], (name, var)
    assert (
        "secretKeyRef" in env_of(by_kind(objects, "Deployment")["auth"])["AUTH_SECRET"]["valueFrom"]
    )
    for name in BLOB_USERS:
        assert env_of(by_kind(objects, "Deployment")[name])["MASTER_KEY"]["valueFrom"][
            "secretKeyRef"
        ]


# --- network policies ---------------------------------------------------------


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


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_callers(rendered, overlay):
    objects = rendered[overlay]
    ns = NS[overlay]
    policies = list(by_kind(objects, "NetworkPolicy").values())
    pods = {
        name: d["spec"]["template"]["metadata"]["labels"]
        for name, d in by_kind(objects, "Deployment").items()
        if name in PROCESSES
    }
    pods["retention-sweep"] = by_kind(objects, "CronJob")["retention-sweep"]["spec"]["jobTemplate"][
        "spec"
    ]["template"]["metadata"]["labels"]
    stranger = {"app.kubernetes.io/name": "debug-shell"}

    for dst, (port, callers) in CALLERS.items():
        for src, labels in pods.items():
            ok = allowed(policies, pods[dst], port, ns, labels, ns)
            assert ok == (src in callers), f"{src} -> {dst}:{port} allowed={ok}"
        assert not allowed(policies, pods[dst], port, ns, stranger, ns), f"stranger -> {dst}"
        assert not allowed(policies, pods[dst], port, "ingress-nginx", {}, ns), f"outside -> {dst}"
        assert allowed(policies, pods[dst], 9090, "monitoring", {}, ns), f"prometheus -> {dst}"
        assert not allowed(policies, pods[dst], 9090, "default", {}, ns)
    # Only the gateway is reachable from outside, and only on its HTTP port.
    assert allowed(policies, pods["gateway"], 8080, "ingress-nginx", {}, ns)
    assert not allowed(policies, pods["gateway"], 8080, "default", {}, ns)
    assert not allowed(policies, pods["gateway"], 9090, "ingress-nginx", {}, ns)
    assert allowed(policies, pods["gateway"], 9090, "monitoring", {}, ns)
    assert not allowed(policies, pods["processor-worker"], 50060, ns, pods["gateway"], ns)
    # A pod nobody selects is still closed: the namespace default is deny.
    assert not allowed(
        policies, {"app.kubernetes.io/name": "new-thing"}, 80, ns, pods["gateway"], ns
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_data_services_reachable_only_from_the_app(rendered, overlay):
    objects = rendered[overlay]
    ns = NS[overlay]
    policies = list(by_kind(objects, "NetworkPolicy").values())
    app = by_kind(objects, "Deployment")["billing"]["spec"]["template"]["metadata"]["labels"]
    if overlay == "dev":
        pg = by_kind(objects, "StatefulSet")["postgres"]["spec"]["template"]["metadata"]["labels"]
        mq = by_kind(objects, "Deployment")["rabbitmq"]["spec"]["template"]["metadata"]["labels"]
    else:
        pg = {"cnpg.io/cluster": by_kind(objects, "Cluster")["picopt-postgres"]["metadata"]["name"]}
        mq = {
            "app.kubernetes.io/name": by_kind(objects, "RabbitmqCluster")["picopt-rabbitmq"][
                "metadata"
            ]["name"]
        }
    assert allowed(policies, pg, 5432, ns, app, ns)
    assert allowed(policies, mq, 5672, ns, app, ns)
    assert allowed(policies, mq, 15672, "keda", {}, ns)
    for labels in (pg, mq):
        for port in (5432, 5672, 15672):
            assert not allowed(policies, labels, port, "ingress-nginx", {}, ns)
            assert not allowed(
                policies, labels, port, ns, {"app.kubernetes.io/name": "debug-shell"}, ns
            )


# --- ingress, autoscaling, cronjob -------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_tls_to_gateway(rendered, overlay):
    objects = rendered[overlay]
    (ing,) = by_kind(objects, "Ingress").values()
    assert ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    tls_hosts = {h for t in ing["spec"]["tls"] for h in t["hosts"]}
    assert all(t["secretName"] for t in ing["spec"]["tls"])
    backends = set()
    for rule in ing["spec"]["rules"]:
        assert rule["host"] in tls_hosts
        for path in rule["http"]["paths"]:
            backends.add(
                (path["backend"]["service"]["name"], path["backend"]["service"]["port"]["name"])
            )
    assert backends == {("gateway", "http")}
    gw = by_kind(objects, "Service")["gateway"]
    assert "http" in {p["name"] for p in gw["spec"]["ports"]}


def test_autoscaling(rendered):
    bounds = {}
    for overlay, objects in rendered.items():
        so = by_kind(objects, "ScaledObject")["processor-worker"]
        ref = so["spec"]["scaleTargetRef"]
        assert ref["name"] == "processor-worker" and ref.get("kind", "Deployment") == "Deployment"
        (trigger,) = so["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "rabbitmq"
        assert meta["protocol"] == "http"  # the management API counts unacknowledged messages
        assert meta["queueName"] == "processor.job.submitted"
        assert meta["mode"] == "QueueLength" and int(meta["value"]) > 0
        assert meta.get("excludeUnacknowledged", "false") == "false"
        auth = by_kind(objects, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
        assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"host"}
        lo, hi = so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]
        assert 0 <= lo <= hi
        bounds[overlay] = (lo, hi)
        assert "replicas" not in by_kind(objects, "Deployment")["processor-worker"]["spec"]
        hpa = by_kind(objects, "HorizontalPodAutoscaler")["gateway"]
        assert hpa["spec"]["scaleTargetRef"]["name"] == "gateway"
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert "replicas" not in by_kind(objects, "Deployment")["gateway"]["spec"]
    assert bounds["dev"] != bounds["prod"]  # the bounds are overlay settings
    assert bounds["prod"][0] >= 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_retention_sweep_cronjob(rendered, overlay):
    cj = by_kind(rendered[overlay], "CronJob")["retention-sweep"]
    spec = policy.pod_spec(cj)
    c = spec["containers"][0]
    assert c["command"] + c.get("args", []) == ["python", "-m", "services.retention", "sweep"]
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    assert spec["restartPolicy"] == "Never"
    retention = by_kind(rendered[overlay], "Deployment")["retention"]
    assert c["image"] == container(retention)["image"]
    assert env_of(cj)["DATABASE_URL"] == env_of(retention)["DATABASE_URL"]


# --- overlay specifics --------------------------------------------------------


def test_dev_uses_single_pod_data_services_and_fs_blobs(rendered):
    objects = rendered["dev"]
    assert by_kind(objects, "StatefulSet")["postgres"]["spec"]["replicas"] == 1
    assert by_kind(objects, "Deployment")["rabbitmq"]["spec"]["replicas"] == 1
    cfg = config(objects)
    assert cfg["BLOB_BACKEND"] == "fs"
    pvcs = by_kind(objects, "PersistentVolumeClaim")
    for obj in [by_kind(objects, "Deployment")[n] for n in BLOB_USERS] + [
        by_kind(objects, "CronJob")["retention-sweep"]
    ]:
        spec = policy.pod_spec(obj)
        vols = {v["name"]: v for v in spec["volumes"]}
        (mount,) = [m for m in container(obj)["volumeMounts"] if m["mountPath"] == cfg["BLOB_DIR"]]
        assert vols[mount["name"]]["persistentVolumeClaim"]["claimName"] in pvcs
    for name in ("auth", "billing"):
        mounts = {
            m["mountPath"] for m in container(by_kind(objects, "Deployment")[name])["volumeMounts"]
        }
        assert cfg["BLOB_DIR"] not in mounts


def test_prod_uses_operators_s3_and_replicas(rendered):
    objects = rendered["prod"]
    assert not by_kind(objects, "StatefulSet")
    images = {c["image"] for _, spec in policy.workloads(objects) for c in spec["containers"]}
    assert not any(i.startswith(("postgres", "rabbitmq")) for i in images)
    rmq = by_kind(objects, "RabbitmqCluster")["picopt-rabbitmq"]
    assert rmq["spec"]["replicas"] >= 3
    pg = by_kind(objects, "Cluster")["picopt-postgres"]
    assert pg["spec"]["instances"] >= 3 and pg["spec"]["bootstrap"]["initdb"]["database"]
    cfg = config(objects)
    assert cfg["BLOB_BACKEND"] == "s3" and cfg["S3_BUCKET"] and cfg["S3_ENDPOINT_URL"]
    workloads = {
        **by_kind(objects, "Deployment"),
        "retention-sweep": by_kind(objects, "CronJob")["retention-sweep"],
    }
    for name, obj in workloads.items():
        env = env_of(obj)
        ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (f"{pg['metadata']['name']}-app", "uri"), name
        has_s3 = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= env.keys()
        assert has_s3 == (name in BLOB_USERS | {"retention-sweep"}), name
        assert "/data/blobs" not in {m["mountPath"] for m in container(obj)["volumeMounts"]}
    for name in ("auth", "billing", "processor-api", "vision", "retention"):
        assert by_kind(objects, "Deployment")[name]["spec"]["replicas"] >= 2
    for name, d in by_kind(objects, "Deployment").items():
        assert d["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
            "registry.example.com/"
        ), name
