"""Run a rendered overlay's Deployments on this machine, as the kubelet would start them.

Each Deployment's command runs with the environment its manifest gives it: the
ConfigMap, then its env entries in order with `$(VAR)` expanded, Secrets filled
with test values. What differs from a cluster is mapped, and only that:

- hosts: the data services are the real PostgreSQL, RabbitMQ and Redis on
  loopback (a fresh database and vhost per run; in the prod overlay a login role
  per managed role owning the schemas the Database object lists, and a broker
  user per RabbitMQ User with its Permission's rules); S3 is a moto server; every
  Service address becomes 127.0.0.1 and a free port;
- ports: each container port a process listens on gets a free port;
- files: every volume mount is a directory of the run (emptyDir: private; a
  PersistentVolumeClaim: shared by its users; a Secret: its keys as files, TLS
  certificates issued by a test CA for the names the Certificate objects give).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import requests

from picopt.devstack import ROOT, free_port
from picopt.kernel.tests.certs import TestCA
from tests.deploy.manifests import by_kind, container, environment, workloads
from tests.integration.harness import infrastructure

# Ports the processes listen on, by the setting that names them.
PORT_SETTINGS = {
    "GATEWAY_PORT": 8080,
    "METRICS_PORT": 9090,
    "GRPC_HEALTH_PORT": 50070,
    "WORKER_HEALTH_PORT": 50060,
}
SERVICE_PORTS = {
    "auth": 50051,
    "billing": 50052,
    "processor": 50053,
    "vision": 50054,
    "retention": 50055,
}


@dataclass
class Process:
    """One Deployment's (or CronJob's) command running here."""

    name: str
    obj: dict[str, Any]
    env: dict[str, str]
    ports: dict[int, int]  # container port -> local port
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def local_port(self, port: int | str) -> int:
        if isinstance(port, str):
            named = {p["name"]: p["containerPort"] for p in container(self.obj).get("ports", [])}
            port = named[port]
        return self.ports[port]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_events(self, event: str) -> list[dict[str, Any]]:
        found = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == event:
                    found.append(record)
        return found


@dataclass
class Backends:
    """Test values of the overlay's Secrets and where its data services really are."""

    secrets: dict[tuple[str, str], str] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    database_url: str = ""
    roles: dict[str, tuple[str, str]] = field(default_factory=dict)  # manifest role -> (role, pw)

    def secret(self, name: str, key: str) -> str | None:
        return self.secrets.get((name, key))


# --- the data services -----------------------------------------------------------------


def _postgres(objects: list[dict], run: str, backends: Backends) -> None:
    """A fresh database; with a CloudNativePG Cluster, its managed roles and schemas too."""
    admin = infrastructure().postgres_admin_url
    base = admin.rsplit("/", 1)[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{run}"')
    backends.database_url = f"{base}/{run}"

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{run}" WITH (FORCE)')
            for role, _ in backends.roles.values():
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')

    backends.cleanups.append(drop)
    host = base.split("@", 1)[1] if "@" in base else base.split("//", 1)[1]
    backends.config |= {"DATABASE_HOST": host, "DATABASE_NAME": run}
    clusters = by_kind(objects, "Cluster")
    if not clusters:
        # One owner role for every service (the dev overlay): the admin role here.
        user = admin.split("//", 1)[1].split("@", 1)[0].split(":", 1)[0]
        for obj in workloads(objects).values():
            for e in container(obj).get("env") or []:
                ref = e.get("valueFrom", {}).get("secretKeyRef", {})
                if ref.get("name", "").startswith("picopt-db-"):
                    backends.secrets[(ref["name"], "username")] = user
                    backends.secrets[(ref["name"], "password")] = "unused"
        return
    (cluster,) = clusters.values()
    with psycopg.connect(backends.database_url, autocommit=True) as conn:
        for role in cluster["spec"]["managed"]["roles"]:
            name, password = f"{run}_{role['name']}", secrets.token_urlsafe(16)
            conn.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
            backends.roles[role["name"]] = (name, password)
            secret = role["passwordSecret"]["name"]
            backends.secrets[(secret, "username")] = name
            backends.secrets[(secret, "password")] = password
        conn.execute(f'REVOKE ALL ON DATABASE "{run}" FROM PUBLIC')
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for database in by_kind(objects, "Database").values():
            for schema in database["spec"].get("schemas", []):
                owner = backends.roles[schema["owner"]][0]
                conn.execute(f'CREATE SCHEMA "{schema["name"]}" AUTHORIZATION "{owner}"')
                conn.execute(f'GRANT CONNECT ON DATABASE "{run}" TO "{owner}"')


def _rabbitmq_password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _rabbitmq(objects: list[dict], run: str, backends: Backends) -> None:
    """A fresh vhost; the overlay's broker users (with their permissions) or the default one."""
    infra = infrastructure()
    users = by_kind(objects, "User")
    definitions: dict[str, Any] = {"vhosts": [{"name": run}], "users": [], "permissions": []}
    logins: list[tuple[str, str]] = []
    if users:
        rules = {
            p["spec"]["userReference"]["name"]: p["spec"]["permissions"]
            for p in by_kind(objects, "Permission").values()
        }
        for name, user in users.items():
            login, password = f"{run}_{name}", secrets.token_urlsafe(16)
            definitions["users"].append(
                {
                    "name": login,
                    "password_hash": _rabbitmq_password_hash(password),
                    "hashing_algorithm": "rabbit_password_hashing_sha256",
                    "tags": user["spec"].get("tags", []),
                }
            )
            definitions["permissions"].append({"user": login, "vhost": run, **rules[name]})
            backends.secrets[(f"{name}-user-credentials", "username")] = login
            backends.secrets[(f"{name}-user-credentials", "password")] = password
            logins.append((login, password))
    else:
        user, password = infra.amqp_base.split("//", 1)[1].split("@", 1)[0].split(":", 1)
        definitions["permissions"].append(
            {"user": user, "vhost": run, "configure": ".*", "write": ".*", "read": ".*"}
        )
        logins.append((user, password))
        for obj in workloads(objects).values():
            for e in container(obj).get("env") or []:
                ref = e.get("valueFrom", {}).get("secretKeyRef", {})
                if ref.get("name", "").endswith("-user-credentials"):
                    backends.secrets[(ref["name"], "username")] = user
                    backends.secrets[(ref["name"], "password")] = password
    # One CLI call for the vhost, users and permissions (each call boots an Erlang VM). The
    # CLI may run as the broker's user (Debian's wrapper does), so it must be able to read it.
    fd, name = tempfile.mkstemp(prefix="picopt-definitions-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(definitions, fh)
        os.chmod(name, 0o644)
        subprocess.run(
            ["rabbitmqctl", "import_definitions", name],
            check=True,
            capture_output=True,
            timeout=60,
        )
    finally:
        os.unlink(name)

    def drop() -> None:
        """The vhost and the users in one CLI call (an Erlang VM boot each is slow)."""
        names = ", ".join(f'<<"{u["name"]}">>' for u in definitions["users"])
        erlang = (
            f'rabbit_vhost:delete(<<"{run}">>, <<"picopt-tests">>), '
            f'[rabbit_auth_backend_internal:delete_user(U, <<"picopt-tests">>) || U <- [{names}]], '
            "ok."
        )
        subprocess.run(["rabbitmqctl", "eval", erlang], capture_output=True, timeout=60)

    backends.cleanups.append(drop)
    host = infra.amqp_base.rsplit("@", 1)[1]
    vhost = quote(run, safe="")
    backends.config |= {"AMQP_HOST": host, "AMQP_VHOST": vhost}
    # The broker imports definitions asynchronously: wait until every login works.
    for login, password in logins:
        _wait_for_login(f"amqp://{quote(login)}:{quote(password)}@{host}/{vhost}")


def _wait_for_login(url: str, timeout: float = 60.0) -> None:
    import pika

    deadline = time.monotonic() + timeout
    while True:
        try:
            pika.BlockingConnection(pika.URLParameters(url)).close()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _redis(tmp: Path, backends: Backends) -> None:
    """A private redis-server with the password of Secret picopt-redis (as redis.yaml runs it)."""
    port, password = free_port(), secrets.token_urlsafe(16)
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            password,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    backends.cleanups.append(lambda: (proc.terminate(), proc.wait(10)))
    backends.secrets[("picopt-redis", "password")] = password
    backends.config["REDIS_HOST"] = f"127.0.0.1:{port}"


def _s3(config: dict[str, str], tmp: Path, backends: Backends) -> None:
    """moto's S3 server with the overlay's bucket, in the overlay's region."""
    import boto3

    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-p", str(port), "-H", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp,
    )
    backends.cleanups.append(lambda: (proc.terminate(), proc.wait(10)))
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(endpoint, timeout=1).status_code < 500:
                break
        if time.monotonic() > deadline:
            raise RuntimeError("moto_server did not start")
        time.sleep(0.1)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        backends.secrets[("picopt-s3", key)] = "test"
    region = config["S3_REGION"]
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(
        Bucket=config["S3_BUCKET"], CreateBucketConfiguration={"LocationConstraint": region}
    )
    backends.config["S3_ENDPOINT_URL"] = endpoint


def _otlp_collector(backends: Backends) -> str:
    """An OTLP/gRPC endpoint that accepts spans and drops them (the overlay's collector)."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    class Sink(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Sink(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    backends.cleanups.append(lambda: server.stop(0))
    return f"http://127.0.0.1:{port}"


def _plain_secrets(backends: Backends) -> None:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    backends.secrets |= {
        ("picopt-master-key", "MASTER_KEY"): key,
        ("picopt-auth-secret", "AUTH_SECRET"): secrets.token_urlsafe(32),
        ("picopt-retention-staff", "RETENTION_STAFF_TOKEN"): secrets.token_urlsafe(32),
        ("picopt-billing-staff", "BILLING_STAFF_TOKEN"): secrets.token_urlsafe(32),
        ("picopt-smtp", "SMTP_USERNAME"): "picopt",
        ("picopt-smtp", "SMTP_PASSWORD"): secrets.token_urlsafe(16),
    }


# --- files, ports, hosts ----------------------------------------------------------------


def _volumes(obj: dict, objects: list[dict], run_dir: Path, ca: TestCA | None) -> dict[str, Path]:
    """mountPath -> local directory for every volume the container mounts."""
    spec = (
        obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        if obj["kind"] == "CronJob"
        else obj["spec"]["template"]["spec"]
    )
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    certificates = {c["spec"]["secretName"]: c for c in by_kind(objects, "Certificate").values()}
    mounts = {}
    for mount in container(obj).get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "persistentVolumeClaim" in volume:
            local = run_dir / "claims" / volume["persistentVolumeClaim"]["claimName"]
        else:
            local = run_dir / obj["metadata"]["name"] / mount["name"]
        local.mkdir(parents=True, exist_ok=True)
        secret = volume.get("secret", {}).get("secretName")
        if ca is not None and secret in certificates:
            pair = ca.issue(certificates[secret]["spec"]["dnsNames"][0])
            (local / "tls.crt").write_bytes(pair.cert.read_bytes())
            (local / "tls.key").write_bytes(pair.key.read_bytes())
            (local / "ca.crt").write_bytes(ca.ca_path.read_bytes())
        mounts[mount["mountPath"]] = local
    return mounts


def _remap_paths(env: dict[str, str], mounts: dict[str, Path]) -> dict[str, str]:
    def remap(value: str) -> str:
        for mount_path, local in sorted(mounts.items(), key=lambda m: -len(m[0])):
            if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
                return str(local) + value[len(mount_path.rstrip("/")) :]
        return value

    return {k: remap(v) for k, v in env.items()}


def _host_overrides(
    config: dict[str, str], service_ports: dict[str, int], backends: Backends
) -> dict[str, str]:
    """Every address a cluster resolves, pointed at loopback."""
    overrides = {"GRPC_HOST": "127.0.0.1", "GATEWAY_HOST": "127.0.0.1", "METRICS_HOST": "127.0.0.1"}
    for service, port in service_ports.items():
        overrides[f"{service.upper()}_ADDR"] = f"127.0.0.1:{port}"
        overrides[f"{service.upper()}_GRPC_PORT"] = str(port)
    if "OTEL_EXPORTER_OTLP_ENDPOINT" in config:
        overrides["OTEL_EXPORTER_OTLP_ENDPOINT"] = backends.config["OTEL_EXPORTER_OTLP_ENDPOINT"]
    if "SMTP_HOST" in config:  # nothing is mailed at start-up: a port nobody listens on
        overrides["SMTP_HOST"], overrides["SMTP_PORT"] = "127.0.0.1", str(free_port())
    return overrides


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Overlay:
    """An overlay's processes running here."""

    name: str
    objects: list[dict[str, Any]]
    processes: dict[str, Process]
    backends: Backends
    ca: TestCA | None
    service_ports: dict[str, int]

    def terminate(self) -> None:
        """SIGTERM every process (what the kubelet sends); `stop` waits for them."""
        for proc in self.processes.values():
            if proc.popen is not None and proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        for proc in self.processes.values():
            if proc.popen is None:
                continue
            try:
                proc.popen.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()


def _command(obj: dict) -> list[str]:
    c = container(obj)
    argv = [*c["command"], *c.get("args", [])]
    return [sys.executable if part == "python" else part for part in argv]


def prepare(name: str, objects: list[dict], tmp: Path) -> Overlay:
    """Data services, Secrets, certificates, environments and ports of every workload."""
    run = f"picopt_deploy_{name}_{uuid.uuid4().hex[:8]}"
    backends = Backends()
    base_config = next(
        o["data"]
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("picopt-config")
    )
    try:
        _plain_secrets(backends)
        _postgres(objects, run, backends)
        _rabbitmq(objects, run, backends)
        _redis(tmp, backends)
        if base_config.get("BLOB_BACKEND") == "s3":
            _s3(base_config, tmp, backends)
        if base_config.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            backends.config["OTEL_EXPORTER_OTLP_ENDPOINT"] = _otlp_collector(backends)
    except BaseException:
        for cleanup in reversed(backends.cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        raise
    service_ports = {service: free_port() for service in SERVICE_PORTS}
    ca = TestCA(tmp / "pki") if by_kind(objects, "Certificate") else None
    processes = {}
    for wname, obj in workloads(objects).items():
        ports = {container_port: free_port() for container_port in PORT_SETTINGS.values()}
        ports |= {SERVICE_PORTS[s]: p for s, p in service_ports.items()}
        overrides = {
            **backends.config,
            **_host_overrides(base_config, service_ports, backends),
            **{setting: str(ports[port]) for setting, port in PORT_SETTINGS.items()},
        }
        env = environment(obj, objects, backends.secret, overrides)
        if "AMQP_URL" in env:  # the test's private vhost instead of "/"
            env["AMQP_URL"] = re.sub(r"/%2F$", "/" + backends.config["AMQP_VHOST"], env["AMQP_URL"])
        env = _remap_paths(env, _volumes(obj, objects, tmp, ca))
        env |= {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "PYTHONUNBUFFERED": "1"}
        processes[wname] = Process(wname, obj, env, ports, tmp / f"{wname}.log")
    return Overlay(name, objects, processes, backends, ca, service_ports)


def start(overlay: Overlay, names: list[str]) -> None:
    for name in names:
        proc = overlay.processes[name]
        with proc.log.open("wb") as log:
            proc.popen = subprocess.Popen(
                _command(proc.obj),
                env=proc.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


@contextlib.contextmanager
def launched(
    overlays: dict[str, list[dict]], tmp: Path, names: list[str]
) -> Iterator[dict[str, Overlay]]:
    """Every overlay's processes started at once (they mostly wait on imports and the broker);
    at the end all are stopped together, then their data services are dropped."""
    running: dict[str, Overlay] = {}
    try:
        for name, objects in overlays.items():
            (tmp / name).mkdir(parents=True, exist_ok=True)
            running[name] = prepare(name, objects, tmp / name)
        for overlay in running.values():
            start(overlay, names)
        yield running
    finally:
        for overlay in running.values():
            overlay.terminate()
        for overlay in running.values():
            overlay.stop()
        for overlay in running.values():
            for cleanup in reversed(overlay.backends.cleanups):
                with contextlib.suppress(Exception):
                    cleanup()
