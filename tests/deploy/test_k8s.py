"""Kubernetes manifests: render every overlay, validate every object, check policy and wiring.

Core kinds are validated against the Kubernetes schemas (kubernetes-validate), custom
resources against their operators' schemas kept in deploy/k8s/crds; both strictly.
What the processes do with these manifests is tested in test_startup.py, the call
graph in test_callgraph.py, the monitoring objects in test_monitoring.py.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from picopt.kernel.messaging import topology
from tests.deploy import crd_schemas, policy
from tests.deploy.conftest import DEPLOY, K8S, OVERLAYS, ROOT, render
from tests.deploy.manifests import (
    NS,
    allowed,
    by_kind,
    callgraph,
    config,
    container,
    egress_allowed,
    env_of,
    pod_labels,
    secret_refs,
    workloads,
)

K8S_VERSIONS = ("1.30", "1.37")
GRAPH = callgraph().load()
DEPLOYMENTS = [name for name, entry in GRAPH.items() if entry["kind"] == "Deployment"]
# Who stores data: a database role and schema of its own.
DATABASE_USERS = {"auth", "billing", "processor", "retention"}
# Who reads or writes blobs (MASTER_KEY, the blob volume or S3 credentials).
BLOB_USERS = {"gateway", "processor-api", "processor-worker", "vision", "retention"}
PROBE_PORTS = {"gateway": (8080, "http")} | {
    name: (50070, "grpc") for name in DEPLOYMENTS if name != "gateway"
}


# --- rendering and schemas ---------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_workload(rendered, overlay):
    objects = rendered[overlay]
    assert set(GRAPH) == set(workloads(objects))
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
def test_every_object_validates_against_its_schema(rendered, overlay, version):
    """Core kinds against Kubernetes' schemas, custom resources against their CRDs' schemas:
    an object of a kind without either fails."""
    for obj in rendered[overlay]:
        where = f"{overlay} {obj['kind']}/{obj['metadata']['name']}"
        if (obj["apiVersion"], obj["kind"]) in crd_schemas.known():
            assert crd_schemas.errors(obj) == [], where
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{where} (k8s {version}): {err.message} at {list(err.path)}")
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"{where}: no schema for {obj['apiVersion']} (add its CRD's schema)")


def test_schema_validation_rejects_broken_objects(rendered):
    deployment = copy.deepcopy(by_kind(rendered["dev"], "Deployment")["auth"])
    container(deployment)["readinessProbe"]["grpc"]["port"] = "fifty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.37", strict=True)
    scaled = copy.deepcopy(by_kind(rendered["prod"], "ScaledObject")["vision"])
    scaled["spec"]["minReplicas"] = 1  # HPA's name, not KEDA's
    assert crd_schemas.errors(scaled)
    cluster = copy.deepcopy(by_kind(rendered["prod"], "Cluster")["picopt-postgres"])
    cluster["spec"]["managed"]["roles"][0]["login"] = "yes"
    assert crd_schemas.errors(cluster)


def test_crd_schemas_name_their_source():
    sources = yaml.safe_load((K8S / "crds" / "SOURCES.yaml").read_text())
    files = {p.name for p in (K8S / "crds").glob("*.json")}
    assert set(sources) == files
    for origin in sources.values():
        repository, tag, commit, crd_file = origin.split()
        assert repository.startswith("github.com/") and re.fullmatch(r"[0-9a-f]{40}", commit)
        assert tag.startswith("v") and crd_file.endswith(".yaml")


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
    c["env"].append({"name": "DATABASE_URL", "value": "postgresql://u:hunter2@db/picopt"})
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
        "DATABASE_URL",
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
    for name, obj in workloads(rendered[overlay]).items():
        spec = policy.pod_spec(obj)
        assert spec["securityContext"]["runAsUser"] == 10001
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m for m in container(obj)["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
        assert set(mounts) <= {"/tmp", "/data/blobs", "/etc/picopt/tls"}, name
        tls = mounts["/etc/picopt/tls"]
        assert tls["readOnly"] and "secret" in volumes[tls["name"]], name
    assert config(rendered[overlay])["VAR_DIR"].startswith("/tmp/")


@pytest.mark.skipif(
    not (os.environ.get("CHECKOV") or Path(".venv-checkov/bin/checkov").exists()),
    reason="checkov not installed (it cannot share the project venv: see deploy/README.md)",
)
def test_checkov_passes(rendered, tmp_path):
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
def test_probes_ask_liveness_and_readiness_apart(rendered, overlay):
    """Liveness never looks at the backends (a restart would not bring them back);
    readiness does. The probes' answers are tested against the processes in test_startup."""
    deployments = by_kind(rendered[overlay], "Deployment")
    for name in DEPLOYMENTS:
        port, kind = PROBE_PORTS[name]
        c = container(deployments[name])
        assert port in {p["containerPort"] for p in c["ports"]}, name
        assert 9090 in {p["containerPort"] for p in c["ports"]}, name
        if kind == "grpc":
            for probe in ("startupProbe", "livenessProbe"):
                assert c[probe]["grpc"] == {"port": port, "service": "liveness"}, (name, probe)
            assert c["readinessProbe"]["grpc"] == {"port": port}, name
        else:
            assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
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
    addressed = {"auth", "billing", "processor-api", "vision", "retention"}
    for deployment in addressed:
        var = f"{GRAPH[deployment]['package'].upper()}_ADDR"
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
        assert int(port) == GRAPH[deployment]["grpc_port"] and int(port) in svc_ports, var
        target = svc_ports[int(port)]["targetPort"]
        named = {p["name"]: p["containerPort"] for p in container(deployments[deployment])["ports"]}
        assert named.get(target, target) == int(port)
        assert cfg[f"{GRAPH[deployment]['package'].upper()}_GRPC_PORT"] == port
    assert cfg["GRPC_HOST"] == "0.0.0.0" and cfg["GATEWAY_HOST"] == "0.0.0.0"
    assert cfg["GATEWAY_PORT"] == "8080" and cfg["METRICS_PORT"] == "9090"
    assert cfg["WORKER_HEALTH_PORT"] == "50060"
    assert cfg["GRPC_HEALTH_PORT"] == "50070"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_workload_gets_the_secrets_it_needs_and_no_others(rendered, overlay):
    """Credentials are per service (its database role, its broker user); only blob users get
    MASTER_KEY (auth no longer does); the gateway has neither database nor broker."""
    objects = rendered[overlay]
    pdbs = by_kind(objects, "PodDisruptionBudget")
    for name, obj in workloads(objects).items():
        package = GRAPH[name]["package"]
        refs, env = secret_refs(obj), env_of(obj)
        if obj["kind"] == "Deployment":
            assert any(
                p["spec"]["selector"]["matchLabels"].items() <= pod_labels(obj).items()
                for p in pdbs.values()
            ), name
        assert container(obj)["envFrom"][0]["configMapRef"]["name"].startswith("picopt-config")
        if package in DATABASE_USERS:
            assert refs["DB_USER"] == (f"picopt-db-{package}", "username"), name
            assert refs["DB_PASSWORD"] == (f"picopt-db-{package}", "password"), name
            assert "$(DB_USER):$(DB_PASSWORD)@" in env["DATABASE_URL"]["value"], name
            assert pod_labels(obj).get("picopt.io/database") == "true", name
        else:
            assert not {"DB_USER", "DATABASE_URL"} & env.keys(), name
            assert "picopt.io/database" not in pod_labels(obj), name
        if package == "gateway":
            assert not {"AMQP_USER", "AMQP_URL"} & env.keys()
            assert "picopt.io/broker" not in pod_labels(obj)
        else:
            creds = f"picopt-{package}-user-credentials"
            assert refs["AMQP_USER"] == (creds, "username"), name
            assert refs["AMQP_PASSWORD"] == (creds, "password"), name
            assert "$(AMQP_USER):$(AMQP_PASSWORD)@" in env["AMQP_URL"]["value"], name
            assert pod_labels(obj).get("picopt.io/broker") == "true", name
        blob_user = name in BLOB_USERS or name == "retention-sweep"
        assert ("MASTER_KEY" in refs) == blob_user, name
    assert refs and "AUTH_SECRET" in secret_refs(by_kind(objects, "Deployment")["auth"])
    assert secret_refs(by_kind(objects, "Deployment")["billing"])["BILLING_STAFF_TOKEN"] == (
        "picopt-billing-staff",
        "BILLING_STAFF_TOKEN",
    )
    for name in ("retention", "retention-sweep"):
        assert secret_refs(workloads(objects)[name])["RETENTION_STAFF_TOKEN"] == (
            "picopt-retention-staff",
            "RETENTION_STAFF_TOKEN",
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_mounts_its_own_certificate(rendered, overlay):
    for name, obj in workloads(rendered[overlay]).items():
        volumes = {v["name"]: v for v in policy.pod_spec(obj)["volumes"]}
        (mount,) = [
            m for m in container(obj)["volumeMounts"] if m["mountPath"] == "/etc/picopt/tls"
        ]
        owner = "retention" if name == "retention-sweep" else name
        assert volumes[mount["name"]]["secret"]["secretName"] == f"picopt-grpc-tls-{owner}"


# --- network policies ---------------------------------------------------------


def _pods(objects: list[dict]) -> dict[str, dict]:
    return {name: pod_labels(obj) for name, obj in workloads(objects).items()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_call_graph(rendered, overlay):
    objects = rendered[overlay]
    ns = NS[overlay]
    policies = list(by_kind(objects, "NetworkPolicy").values())
    pods = _pods(objects)
    stranger = {"app.kubernetes.io/name": "debug-shell"}
    servers = {name: e["grpc_port"] for name, e in GRAPH.items() if "grpc_port" in e}
    assert servers, "the call graph names no gRPC server"
    for dst, port in servers.items():
        callers = set(callgraph().callers(GRAPH, dst))
        for src, labels in pods.items():
            ok = allowed(policies, pods[dst], port, ns, labels, ns)
            assert ok == (src in callers), f"{src} -> {dst}:{port} allowed={ok}"
        assert not allowed(policies, pods[dst], port, ns, stranger, ns), f"stranger -> {dst}"
        assert not allowed(policies, pods[dst], port, "ingress-nginx", {}, ns), f"outside -> {dst}"
    for dst in DEPLOYMENTS:
        assert allowed(policies, pods[dst], 9090, "monitoring", {}, ns), f"prometheus -> {dst}"
        assert not allowed(policies, pods[dst], 9090, "default", {}, ns)
    # billing -> auth (GetUser for receipts) was blocked before the call graph existed.
    assert allowed(policies, pods["auth"], 50051, ns, pods["billing"], ns)
    # Only the gateway is reachable from outside, and only on its HTTP port.
    assert allowed(policies, pods["gateway"], 8080, "ingress-nginx", {}, ns)
    assert not allowed(policies, pods["gateway"], 8080, "default", {}, ns)
    assert not allowed(policies, pods["gateway"], 9090, "ingress-nginx", {}, ns)
    assert not allowed(policies, pods["processor-worker"], 50060, ns, pods["gateway"], ns)
    # A pod nobody selects is still closed: the namespace default is deny.
    assert not allowed(
        policies, {"app.kubernetes.io/name": "new-thing"}, 80, ns, pods["gateway"], ns
    )


def test_network_policies_follow_a_new_call(rendered):
    """A call added to the table opens exactly that path in the generated policies."""
    graph = copy.deepcopy(GRAPH)
    graph["vision"]["calls"] = ["auth"]
    policies = callgraph().network_policies(graph)
    pods = _pods(rendered["dev"])
    assert allowed(policies, pods["auth"], 50051, "x", pods["vision"], "x")
    assert not allowed(
        callgraph().network_policies(GRAPH), pods["auth"], 50051, "x", pods["vision"], "x"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_data_services_reachable_only_by_their_users(rendered, overlay):
    objects = rendered[overlay]
    ns = NS[overlay]
    policies = list(by_kind(objects, "NetworkPolicy").values())
    pods = _pods(objects)
    redis = pod_labels(by_kind(objects, "Deployment")["redis"])
    if overlay == "dev":
        pg = pod_labels(by_kind(objects, "StatefulSet")["postgres"])
        mq = pod_labels(by_kind(objects, "Deployment")["rabbitmq"])
        db_entry = pg
    else:
        pg = {"cnpg.io/cluster": "picopt-postgres"}
        db_entry = {
            "cnpg.io/poolerName": by_kind(objects, "Pooler")["picopt-postgres-pooler-rw"][
                "metadata"
            ]["name"]
        }
        mq = {
            "app.kubernetes.io/name": by_kind(objects, "RabbitmqCluster")["picopt-rabbitmq"][
                "metadata"
            ]["name"]
        }
        # The services reach PostgreSQL through the pooler only.
        assert allowed(policies, pg, 5432, ns, db_entry, ns)
        assert not allowed(policies, pg, 5432, ns, pods["billing"], ns)
    for name, labels in pods.items():
        uses_db = GRAPH[name]["package"] in DATABASE_USERS
        assert allowed(policies, db_entry, 5432, ns, labels, ns) == uses_db, name
        assert allowed(policies, mq, 5672, ns, labels, ns) == (name != "gateway"), name
        assert allowed(policies, redis, 6379, ns, labels, ns) == (name == "gateway"), name
    assert allowed(policies, mq, 15672, "keda", {}, ns)
    for labels in (pg, db_entry, mq, redis):
        for port in (5432, 5672, 15672, 6379):
            assert not allowed(policies, labels, port, "ingress-nginx", {}, ns)
            assert not allowed(
                policies, labels, port, ns, {"app.kubernetes.io/name": "debug-shell"}, ns
            )


def _data_pods(objects: list[dict], overlay: str) -> dict[str, dict]:
    """Labels of the pods the app connects to: the database entry, the broker and Redis."""
    redis = pod_labels(by_kind(objects, "Deployment")["redis"])
    if overlay == "dev":
        return {
            "database": pod_labels(by_kind(objects, "StatefulSet")["postgres"]),
            "broker": pod_labels(by_kind(objects, "Deployment")["rabbitmq"]),
            "redis": redis,
        }
    (pooler,) = by_kind(objects, "Pooler")
    (cluster,) = by_kind(objects, "RabbitmqCluster")
    return {
        "database": {"cnpg.io/poolerName": pooler},
        "broker": {"app.kubernetes.io/name": cluster, "app.kubernetes.io/component": "rabbitmq"},
        "redis": redis,
    }


S3_ADDRESS = "52.219.170.1"  # an address of s3.eu-central-1.amazonaws.com
RELAY_ADDRESS = "198.51.100.25"  # a mail relay on the internet


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_egress_policies_allow_exactly_what_each_workload_uses(rendered, overlay):
    """Each workload's pods may open connections to DNS, the OTLP collector, the gRPC
    services it calls and what it reaches, and nowhere else: not the cloud's metadata
    service, not other pods, not other ports (the worker's decoder child shares its pod's
    network, so this is what a hostile image could reach)."""
    objects = rendered[overlay]
    ns = NS[overlay]
    policies = list(by_kind(objects, "NetworkPolicy").values())
    pods = _pods(objects)
    data = _data_pods(objects, overlay)
    servers = {name: e["grpc_port"] for name, e in GRAPH.items() if "grpc_port" in e}
    smtp_port = int(config(objects).get("SMTP_PORT", "587"))
    otlp = urlsplit(config(objects).get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x.monitoring:4317"))
    assert pods.keys() == GRAPH.keys()
    for name, labels in pods.items():
        entry = GRAPH[name]

        def may(port: int, source: dict = labels, **to: object) -> bool:
            return egress_allowed(policies, source, ns, port, **to)

        dns = {"ns": "kube-system", "labels": {"k8s-app": "kube-dns"}}
        assert may(53, protocol="UDP", **dns) and may(53, **dns), name
        collector = {"app.kubernetes.io/name": "opentelemetry-collector"}
        assert may(otlp.port or 4317, ns=otlp.hostname.split(".")[1], labels=collector), name
        for dst, port in servers.items():
            assert may(port, labels=pods[dst]) == (dst in entry["calls"]), f"{name} -> {dst}"
        assert may(5432, labels=data["database"]) == ("picopt.io/database" in labels), name
        assert may(5672, labels=data["broker"]) == ("picopt.io/broker" in labels), name
        assert may(6379, labels=data["redis"]) == (name == "gateway"), name
        outside_https = bool({"s3", "https"} & set(entry["reaches"]))
        assert may(443, ip=S3_ADDRESS) == outside_https, name
        assert may(smtp_port, ip=RELAY_ADDRESS) == ("smtp" in entry["reaches"]), name
        for port, to in (
            (80, {"ip": "169.254.169.254"}),  # the cloud's metadata service (node credentials)
            (443, {"ip": "10.96.0.1"}),  # the Kubernetes API's Service address
            (443, {"ns": "default", "labels": {"component": "apiserver"}}),
            (22, {"ip": S3_ADDRESS}),
            (8080, {"labels": {"app.kubernetes.io/name": "debug-shell"}}),
            (15672, {"labels": data["broker"]}),
        ):
            assert not may(port, **to), f"{name} -> {to}:{port}"
    worker = GRAPH["processor-worker"]
    assert worker["calls"] == [] and sorted(worker["reaches"]) == ["broker", "database", "s3"]


def test_egress_policies_follow_a_new_call_and_a_new_destination(rendered):
    graph = copy.deepcopy(GRAPH)
    graph["vision"]["calls"] = ["auth"]
    graph["processor-worker"]["reaches"].append("smtp")
    table = callgraph().destinations()
    before = callgraph().egress_policies(GRAPH, table)
    after = callgraph().egress_policies(graph, table)
    pods = _pods(rendered["dev"])
    assert not egress_allowed(before, pods["vision"], "x", 50051, labels=pods["auth"])
    assert egress_allowed(after, pods["vision"], "x", 50051, labels=pods["auth"])
    worker = pods["processor-worker"]
    assert not egress_allowed(before, worker, "x", 587, ip=RELAY_ADDRESS)
    assert egress_allowed(after, worker, "x", 587, ip=RELAY_ADDRESS)


def test_what_each_workload_reaches_matches_its_code_and_labels(rendered):
    """smtp where the service's code sends mail, https where it calls a web API (OAuth
    providers, Stripe, AI providers), s3 for the blob users, the database and broker where
    the pod says it uses them. The CronJob reaches no more than its service does."""
    labels = _pods(rendered["prod"])
    for name, entry in GRAPH.items():
        reaches = set(entry["reaches"])
        if entry["kind"] == "CronJob":
            (service,) = [
                n for n, e in GRAPH.items() if e["package"] == entry["package"] and n != name
            ]
            assert reaches <= set(GRAPH[service]["reaches"]), name
        else:
            code = "\n".join(
                path.read_text()
                for path in (ROOT / "services" / entry["package"]).rglob("*.py")
                if "tests" not in path.parts
            )
            mails = "picopt.kernel.mailer" in code
            web = re.search(r"^\s*import (requests|stripe|httpx)\b", code, re.M) is not None
            assert ("smtp" in reaches) == mails, name
            assert ("https" in reaches) == web, name
        assert ("s3" in reaches) == (name in BLOB_USERS | {"retention-sweep"}), name
        assert ("database" in reaches) == ("picopt.io/database" in labels[name]), name
        assert ("broker" in reaches) == ("picopt.io/broker" in labels[name]), name
        assert ("redis" in reaches) == (name == "gateway"), name


# --- ingress, client addresses, autoscaling, cronjob ---------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_tls_to_gateway_at_the_public_url(rendered, overlay):
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
    public = urlsplit(config(objects)["PUBLIC_URL"])
    assert public.scheme == "https" and public.hostname in tls_hosts
    body = ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    limit = int(config(objects).get("MAX_UPLOAD_BYTES", 50 * 1024 * 1024))
    assert int(body.rstrip("m")) * 1024 * 1024 > limit  # the gateway answers 413 itself


def test_trusted_proxies_match_the_ingress_controller(rendered):
    """The gateway believes exactly the hops ingress-nginx puts in X-Forwarded-For."""
    values = yaml.safe_load((K8S / "ingress-nginx" / "values.yaml").read_text())["controller"]
    settings = values["config"]
    assert settings["use-forwarded-headers"] == "false"  # clients' own headers are not believed
    hops = 2 if settings["compute-full-forwarded-for"] == "true" else 1
    assert values["service"]["externalTrafficPolicy"] == "Local"  # the client's address arrives
    for objects in rendered.values():
        assert int(config(objects)["TRUSTED_PROXIES"]) == hops


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscaling(rendered, overlay):
    objects = rendered[overlay]
    auth = by_kind(objects, "TriggerAuthentication")["picopt-rabbitmq-keda"]
    assert {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]} == {
        "username": ("picopt-keda-user-credentials", "username"),
        "password": ("picopt-keda-user-credentials", "password"),
    }
    broker_services = set(by_kind(objects, "Service")) | set(by_kind(objects, "RabbitmqCluster"))
    queues = {"processor-worker": "processor.job.submitted", "vision": "vision.job.optimized"}
    for name, queue in queues.items():
        so = by_kind(objects, "ScaledObject")[name]
        ref = so["spec"]["scaleTargetRef"]
        assert ref["name"] == name and ref.get("kind", "Deployment") == "Deployment"
        (trigger,) = so["spec"]["triggers"]
        meta = trigger["metadata"]
        assert (
            trigger["type"] == "rabbitmq"
            and trigger["authenticationRef"]["name"] == "picopt-rabbitmq-keda"
        )
        assert meta["protocol"] == "http"  # the management API counts unacknowledged messages
        assert meta["queueName"] == queue and f"{GRAPH[name]['package']}." in queue
        assert queue.split(".", 1)[1] in GRAPH[name]["consumes"]
        assert meta["mode"] == "QueueLength" and int(meta["value"]) > 0
        assert meta.get("excludeUnacknowledged", "false") == "false"
        # KEDA polls from its own namespace: <service>.<namespace>.svc.cluster.local.
        host = urlsplit(meta["host"]).hostname or ""
        service, namespace, rest = host.split(".", 2)
        assert (namespace, rest) == (NS[overlay], "svc.cluster.local"), host
        assert service in broker_services, host
        assert so["spec"]["fallback"]["failureThreshold"] >= 1
        lo, hi = so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]
        assert 0 <= lo <= so["spec"]["fallback"]["replicas"] <= hi
        assert "replicas" not in by_kind(objects, "Deployment")[name]["spec"]
    # vision serves gRPC too: never scaled to zero
    assert by_kind(objects, "ScaledObject")["vision"]["spec"]["minReplicaCount"] >= 1
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["gateway"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "gateway"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert "replicas" not in by_kind(objects, "Deployment")["gateway"]["spec"]


def test_autoscaling_bounds_are_overlay_settings(rendered):
    bounds = {
        overlay: by_kind(objects, "ScaledObject")["processor-worker"]["spec"]["maxReplicaCount"]
        for overlay, objects in rendered.items()
    }
    assert bounds["dev"] != bounds["prod"]
    assert (
        by_kind(rendered["prod"], "ScaledObject")["processor-worker"]["spec"]["minReplicaCount"]
        >= 1
    )


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
    for name, obj in workloads(objects).items():
        spec = policy.pod_spec(obj)
        vols = {v["name"]: v for v in spec["volumes"]}
        mounts = [m for m in container(obj)["volumeMounts"] if m["mountPath"] == cfg["BLOB_DIR"]]
        assert bool(mounts) == (name in BLOB_USERS | {"retention-sweep"}), name
        for mount in mounts:
            assert vols[mount["name"]]["persistentVolumeClaim"]["claimName"] in pvcs


def test_prod_uses_operators_s3_and_replicas(rendered):
    objects = rendered["prod"]
    assert not by_kind(objects, "StatefulSet")
    images = {c["image"] for _, spec in policy.workloads(objects) for c in spec["containers"]}
    assert not any(i.startswith(("postgres", "rabbitmq")) for i in images)
    assert by_kind(objects, "RabbitmqCluster")["picopt-rabbitmq"]["spec"]["replicas"] >= 3
    pg = by_kind(objects, "Cluster")["picopt-postgres"]
    assert pg["spec"]["instances"] >= 3 and pg["spec"]["bootstrap"]["initdb"]["database"]
    cfg = config(objects)
    assert cfg["BLOB_BACKEND"] == "s3" and cfg["S3_BUCKET"] and cfg["S3_REGION"]
    assert cfg["S3_ENDPOINT_URL"].startswith("https://")
    for name, obj in workloads(objects).items():
        env = env_of(obj)
        has_s3 = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= env.keys()
        assert has_s3 == (name in BLOB_USERS | {"retention-sweep"}), name
        assert "/data/blobs" not in {m["mountPath"] for m in container(obj)["volumeMounts"]}
    for name in ("auth", "billing", "processor-api", "retention"):
        assert by_kind(objects, "Deployment")[name]["spec"]["replicas"] >= 2
    for name, d in by_kind(objects, "Deployment").items():
        if name == "redis":
            continue
        assert container(d)["image"].startswith("registry.example.com/"), name


def test_prod_runs_in_production_mode_with_mail_and_mtls(rendered):
    """The settings production mode requires (picopt/kernel/production.py) come from the
    overlay; test_startup runs every process through that check."""
    cfg = config(rendered["prod"])
    assert cfg["ENVIRONMENT"] == "production"
    assert (
        cfg["MAIL_TRANSPORT"] == "smtp"
        and cfg["SMTP_HOST"]
        and "@localhost" not in cfg["MAIL_FROM"]
    )
    assert {cfg[k] for k in ("GRPC_TLS_CERT", "GRPC_TLS_KEY", "GRPC_TLS_CA")} == {
        "/etc/picopt/tls/tls.crt",
        "/etc/picopt/tls/tls.key",
        "/etc/picopt/tls/ca.crt",
    }
    assert cfg["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert 0 < float(cfg["OTEL_TRACES_SAMPLER_ARG"]) <= 1
    for name in ("auth", "billing", "retention"):
        refs = secret_refs(by_kind(rendered["prod"], "Deployment")[name])
        assert refs["SMTP_PASSWORD"] == ("picopt-smtp", "SMTP_PASSWORD")


def test_prod_certificates_name_the_services_callers_dial(rendered):
    objects = rendered["prod"]
    cfg = config(objects)
    certificates = {c["spec"]["secretName"]: c for c in by_kind(objects, "Certificate").values()}
    issuers = by_kind(objects, "Issuer")
    for name in DEPLOYMENTS:
        cert = certificates[f"picopt-grpc-tls-{name}"]["spec"]
        assert cert["issuerRef"]["name"] in issuers
        assert {"server auth", "client auth"} <= set(cert["usages"])
        if "grpc_port" in GRAPH[name]:
            host = cfg[f"{GRAPH[name]['package'].upper()}_ADDR"].rsplit(":", 1)[0]
            assert host in cert["dnsNames"], name
    ca = issuers[certificates["picopt-grpc-tls-auth"]["spec"]["issuerRef"]["name"]]
    assert ca["spec"]["ca"]["secretName"] in {
        c["spec"]["secretName"] for c in certificates.values() if c["spec"].get("isCA")
    }


def test_prod_database_roles_own_their_schemas_only(rendered):
    """One role per service that stores data, named like its schema (so the default search_path
    finds it through PgBouncer), its password the Secret the pods read; backups scheduled."""
    objects = rendered["prod"]
    cluster = by_kind(objects, "Cluster")["picopt-postgres"]
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    (database,) = by_kind(objects, "Database").values()
    schemas = {s["name"]: s["owner"] for s in database["spec"]["schemas"]}
    assert set(roles) == set(schemas) == DATABASE_USERS
    for name, role in roles.items():
        assert schemas[name] == name and role["login"] and not role.get("superuser")
        assert not role.get("createdb") and not role.get("createrole")
        assert role["passwordSecret"]["name"] == f"picopt-db-{name}"
    assert database["spec"]["owner"] not in roles
    (pooler,) = by_kind(objects, "Pooler").values()
    assert pooler["spec"]["cluster"]["name"] == "picopt-postgres"
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "transaction"
    assert config(objects)["DATABASE_HOST"].split(":")[0] == pooler["metadata"]["name"]
    (plugin,) = cluster["spec"]["plugins"]
    assert plugin["isWALArchiver"]
    store = by_kind(objects, "ObjectStore")[plugin["parameters"]["barmanObjectName"]]
    assert store["spec"]["configuration"]["destinationPath"].startswith("s3://")
    (scheduled,) = by_kind(objects, "ScheduledBackup").values()
    assert scheduled["spec"]["cluster"]["name"] == "picopt-postgres"
    assert scheduled["spec"]["method"] == "plugin"
    assert scheduled["spec"]["pluginConfiguration"]["name"] == plugin["name"]


def test_prod_broker_users_are_per_service_and_keda_reads_only(rendered):
    objects = rendered["prod"]
    users = by_kind(objects, "User")
    permissions = {
        p["spec"]["userReference"]["name"]: p["spec"]
        for p in by_kind(objects, "Permission").values()
    }
    for name, obj in workloads(objects).items():
        package = GRAPH[name]["package"]
        if package == "gateway":
            continue
        user = f"picopt-{package}"
        assert user in users and secret_refs(obj)["AMQP_USER"][0] == f"{user}-user-credentials"
        rules = permissions[user]["permissions"]
        assert re.match(rules["read"], f"{package}.x") and not re.match(rules["read"], "other.x")
        # What messaging declares, publishes to and reads (topology.py), name by name.
        delay_queue = topology.delay_queue_name(topology.DEFAULT_EXCHANGE, 2000)
        retry_exchange = topology.retry_exchange_name(topology.DEFAULT_EXCHANGE)
        own = topology.queue_name(package, "job.completed")
        expected = {
            topology.DEFAULT_EXCHANGE: "cwr",
            topology.DEFAULT_DLX: "cwr",
            # Declaring the delay queues (dead-lettering into the retry exchange) takes read
            # on them and write on the retry exchange (RabbitMQ's rule for x-dead-letter-*).
            retry_exchange: "cwr",
            delay_queue: "cr",
            "amq.default": "w",
            own: "cwr",
            topology.dead_letter_queue_name(own): "cwr",
            topology.queue_name("other", "job.completed"): "",
            "picopt.other": "",
        }
        for name, granted in expected.items():
            for kind in ("configure", "write", "read"):
                assert bool(re.match(rules[kind], name)) == (kind[0] in granted), (user, name, kind)
    keda = permissions["picopt-keda"]["permissions"]
    assert set(keda.values()) == {"^$"} and users["picopt-keda"]["spec"]["tags"] == ["monitoring"]


def test_the_restore_recovers_the_prod_cluster_under_new_names(rendered):
    """deploy/k8s/restore (the runbook's point-in-time recovery) reads the prod cluster's
    backups, keeps its roles, schemas and network rules, and archives apart."""
    restore = render(K8S / "restore")
    for obj in restore:
        if (obj["apiVersion"], obj["kind"]) in crd_schemas.known():
            assert crd_schemas.errors(obj) == [], obj["metadata"]["name"]
        else:
            kubernetes_validate.validate(obj, K8S_VERSIONS[-1], strict=True)
    assert {o["metadata"]["namespace"] for o in restore} == {NS["prod"]}
    prod = rendered["prod"]
    live = by_kind(prod, "Cluster")["picopt-postgres"]["spec"]
    (restored,) = by_kind(restore, "Cluster").values()
    spec = restored["spec"]
    recovery = spec["bootstrap"]["recovery"]
    target = datetime.fromisoformat(recovery["recoveryTarget"]["targetTime"].replace("Z", "+00:00"))
    assert target.tzinfo is not None
    (source,) = [c for c in spec["externalClusters"] if c["name"] == recovery["source"]]
    assert source["plugin"]["parameters"] == {
        "barmanObjectName": live["plugins"][0]["parameters"]["barmanObjectName"],
        "serverName": "picopt-postgres",
    }
    assert spec["plugins"][0]["parameters"]["serverName"] == restored["metadata"]["name"]
    assert spec["managed"] == live["managed"]
    (database,) = by_kind(restore, "Database").values()
    (live_database,) = by_kind(prod, "Database").values()
    assert database["spec"]["schemas"] == live_database["spec"]["schemas"]
    (pooler,) = by_kind(restore, "Pooler").values()
    assert pooler["spec"]["cluster"]["name"] == restored["metadata"]["name"]
    (backup,) = by_kind(restore, "ScheduledBackup").values()
    assert backup["spec"]["cluster"]["name"] == restored["metadata"]["name"]
    policies = list(by_kind(prod, "NetworkPolicy").values()) + list(
        by_kind(restore, "NetworkPolicy").values()
    )
    pods = _pods(prod)
    entry = {"cnpg.io/poolerName": pooler["metadata"]["name"]}
    instance = {"cnpg.io/cluster": restored["metadata"]["name"]}
    ns = NS["prod"]
    assert allowed(policies, instance, 5432, ns, entry, ns)
    for name, labels in pods.items():
        uses_db = GRAPH[name]["package"] in DATABASE_USERS
        assert allowed(policies, entry, 5432, ns, labels, ns) == uses_db, name
        assert not allowed(policies, instance, 5432, ns, labels, ns), name
