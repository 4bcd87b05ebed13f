"""Dockerfiles, the compose stack and the container healthcheck, without a Docker engine."""

from __future__ import annotations

import fnmatch
import http.server
import json
import re
import subprocess
import sys
import threading
from concurrent import futures
from importlib import resources

import grpc
import jsonschema
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from picopt.devstack import free_port
from tests.deploy.conftest import DEPLOY, ROOT, tool

DOCKER = DEPLOY / "docker"
HEALTHCHECK = DOCKER / "healthcheck.py"
SERVICES = {
    # image: (default command, ports the image must expose)
    "gateway": (["python", "-m", "services.gateway"], {8080}),
    "auth": (["python", "-m", "services.auth"], {50051, 9090}),
    "billing": (["python", "-m", "services.billing"], {50052, 9090}),
    "processor": (["python", "-m", "services.processor", "api"], {50053, 50060, 9090}),
    "vision": (["python", "-m", "services.vision"], {50054, 9090}),
    "retention": (["python", "-m", "services.retention"], {50055, 9090}),
}
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|clang|cargo|rustc|apt-get install)\b")


def instructions(path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    out, buf = [], ""
    for line in path.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        buf += line.rstrip("\\").rstrip() + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            op, _, args = buf.strip().partition(" ")
            out.append((op.upper(), args.strip()))
            buf = ""
    return out


def stages(path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for op, args in instructions(path):
        if op == "FROM":
            result.append([])
        if result:
            result[-1].append((op, args))
    return result


# --- Dockerfiles ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["base", *SERVICES])
def test_hadolint(name):
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKER / f"{name}.Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_is_a_builder_and_a_runtime_without_build_tools():
    builder, runtime = stages(DOCKER / "base.Dockerfile")
    text = (DOCKER / "base.Dockerfile").read_text()
    # One Python image for both stages, pinned by digest.
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11-slim[\w.-]*@sha256:[0-9a-f]{64}\n", text)
    assert builder[0][1] == "${PYTHON_IMAGE} AS builder"
    assert runtime[0][1] == "${PYTHON_IMAGE} AS runtime"
    assert any(op == "RUN" and "python -m venv /opt/venv" in a for op, a in builder)
    assert not any(op == "RUN" and "pip install" in a for op, a in builder), "services install"
    for op, args in runtime:
        if op == "RUN":
            assert not BUILD_TOOLS.search(args), args
    copies = [a for op, a in runtime if op == "COPY"]
    assert all("healthcheck.py" in a for a in copies), copies
    users = [a for op, a in runtime if op == "USER"]
    assert users and users[-1].split(":")[0] == "10001"
    env = " ".join(a for op, a in runtime if op == "ENV")
    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "HOME=/tmp",
        "VAR_DIR=/tmp/",
        "GRPC_HOST=0.0.0.0",
        "GATEWAY_HOST=0.0.0.0",
    ):
        assert setting in env


@pytest.mark.parametrize("name", SERVICES)
def test_service_image(name):
    """Its own extra installed on the shared builder, the venv copied onto the runtime."""
    command, ports = SERVICES[name]
    text = (DOCKER / f"{name}.Dockerfile").read_text()
    builder, final = stages(DOCKER / f"{name}.Dockerfile")
    assert "ARG BUILDER_IMAGE=picopt-builder" in text and "ARG RUNTIME_IMAGE=picopt-runtime" in text
    assert builder[0][1] == "${BUILDER_IMAGE} AS builder"
    (install,) = [a for op, a in builder if op == "RUN"]
    assert f"--constraint constraints.txt '.[{name}]'" in install, install
    assert final[0][1].startswith("${RUNTIME_IMAGE} AS ")
    ops = dict(final)  # last of each instruction
    assert ops["COPY"] == "--from=builder /opt/venv /opt/venv"
    assert ops["USER"].split(":")[0] == "10001"
    assert json.loads(ops["CMD"]) == command
    assert {int(p) for p in ops["EXPOSE"].split()} == ports
    health = ops["HEALTHCHECK"]
    probe = json.loads(health[health.index("CMD") + 3 :].strip())
    assert probe[0] == "picopt-healthcheck"
    assert int(probe[probe.index("--port") + 1]) in ports
    assert not any(op == "RUN" for op, _ in final), "the runtime stage adds no layers with tools"


def test_build_context_keeps_what_the_images_copy():
    patterns = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(
            fnmatch.fnmatch(pre, pat.removeprefix("**/")) or fnmatch.fnmatch(pre, pat)
            for pat in patterns
            for pre in prefixes
        )

    needed = []
    for op, args in instructions(DOCKER / "base.Dockerfile"):
        if op == "COPY" and "--from=" not in args:
            needed += [a for a in args.split()[:-1] if not a.startswith("--")]
    assert set(needed) >= {
        "pyproject.toml",
        "constraints.txt",
        "picopt",
        "picopt_cli",
        "services",
        "deploy/docker/healthcheck.py",
    }
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not ignored(path), path
    for secret_or_bulk in (".git", ".venv", "var", ".env", "deploy/k8s"):
        assert ignored(secret_or_bulk), secret_or_bulk


# --- compose --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_validates_against_the_compose_spec(compose):
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(compose, schema, cls=jsonschema.Draft202012Validator)
    broken = {
        **compose,
        "services": {
            **compose["services"],
            "gateway": {**compose["services"]["gateway"], "ports": "8080"},
        },
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)


def test_compose_stack(compose):
    services = compose["services"]
    shared = {"postgres", "rabbitmq", "builder", "runtime"}
    assert shared <= set(services)
    app = {n: s for n, s in services.items() if n not in shared}
    expected = {
        "gateway": ["python", "-m", "services.gateway"],
        "auth": ["python", "-m", "services.auth"],
        "billing": ["python", "-m", "services.billing"],
        "processor-api": ["python", "-m", "services.processor", "api"],
        "processor-worker": ["python", "-m", "services.processor", "worker"],
        "vision": ["python", "-m", "services.vision"],
        "retention": ["python", "-m", "services.retention"],
        "retention-sweep": ["python", "-m", "services.retention", "sweep"],
    }
    assert set(app) == set(expected)
    for name, svc in app.items():
        image = svc["image"].split(":")[0]
        command = svc.get("command") or SERVICES[image.split("/")[1]][0]
        assert command == expected[name], name
        assert svc["read_only"] is True and svc["user"].startswith("10001")
        assert svc["cap_drop"] == ["ALL"] and "no-new-privileges:true" in svc["security_opt"]
        assert any(t.startswith("/tmp") for t in svc["tmpfs"])
        assert ("ports" in svc) == (name == "gateway"), name
        if "build" in svc:
            assert (ROOT / svc["build"]["dockerfile"]).exists()
            assert svc["build"]["additional_contexts"] == {
                "picopt-builder": "service:builder",
                "picopt-runtime": "service:runtime",
            }
        env = svc["environment"]
        for var in ("AUTH_ADDR", "BILLING_ADDR", "PROCESSOR_ADDR", "VISION_ADDR", "RETENTION_ADDR"):
            host, port = env[var].split(":")
            target = services[host]
            exposes = SERVICES[target["image"].split(":")[0].split("/")[1]][1]
            assert int(port) in exposes, (name, var)
        assert env["GRPC_HOST"] == "0.0.0.0" and env["VAR_DIR"].startswith("/tmp")
        for secret in ("DATABASE_URL", "AMQP_URL", "MASTER_KEY"):
            assert "${" in env[secret], f"{name}: {secret} must come from the environment"
    assert "${" in app["auth"]["environment"]["AUTH_SECRET"]
    assert services["processor-worker"]["healthcheck"]["test"][-1] == "50060"
    for blob_user in ("gateway", "processor-api", "processor-worker", "vision", "retention"):
        assert {"blobs:/data/blobs"} <= set(services[blob_user]["volumes"]), blob_user
    assert app["gateway"]["environment"]["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp")
    for stage in ("builder", "runtime"):
        assert services[stage]["build"]["dockerfile"].endswith("/base.Dockerfile")
        assert services[stage]["build"]["target"] == stage


# --- healthcheck script --------------------------------------------------------------


def run_check(*args: str, env: dict | None = None) -> int:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args], capture_output=True, timeout=30, env=env
    ).returncode


def test_healthcheck_grpc_against_a_real_health_server():
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        assert run_check("grpc", "--port", str(port)) == 0
        assert (
            run_check(
                "grpc",
                "--port",
                "1",
                "--port-env",
                "HC_PORT",
                env={"HC_PORT": str(port), "PATH": "/usr/bin"},
            )
            == 0
        )
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert run_check("grpc", "--port", str(port)) == 1
    finally:
        server.stop(0)
    assert run_check("grpc", "--port", str(port), "--timeout", "1") == 1


def test_healthcheck_http():
    status = {"code": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status["code"] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert run_check("http", "--port", str(port)) == 0
        assert run_check("http", "--port", str(port), "--path", "/nope") == 1
        status["code"] = 503
        assert run_check("http", "--port", str(port)) == 1
    finally:
        server.shutdown()
