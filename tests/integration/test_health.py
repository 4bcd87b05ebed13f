"""Readiness of a real service process: NOT_SERVING while its database or broker is gone.

billing runs as a process against the real PostgreSQL and RabbitMQ, each reached
through a loopback forwarder the test cuts and restores. Readiness ("") follows the
backends; liveness stays SERVING throughout, so Kubernetes takes the pod out of its
Service without restarting it.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from picopt.devstack import ROOT, free_port
from picopt.kernel.health import LIVENESS
from tests.integration.conftest import wait_for
from tests.integration.harness import fresh_database, fresh_vhost
from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def status(port: int, service: str = "") -> str:
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1
            )
    except grpc.RpcError as err:
        return f"UNREACHABLE ({err.code().name})"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def through(url: str, proxy: TcpProxy) -> str:
    """The same URL with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{proxy.port}" if credentials else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 0


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, TcpProxy, TcpProxy]]:
    """billing with its database and broker behind proxies; yields (health port, db, broker)."""
    tmp_path = tmp_path_factory.mktemp("health")
    run = f"picopt_health_{uuid.uuid4().hex[:8]}"
    with fresh_database(run) as db_url, fresh_vhost(run) as amqp_url:
        db_host, db_port = target(db_url)
        mq_host, mq_port = target(amqp_url)
        with TcpProxy(db_host, db_port or 5432) as db, TcpProxy(mq_host, mq_port or 5672) as mq:
            health_port = free_port()
            env = {
                **os.environ,
                "DATABASE_URL": through(db_url, db),
                "AMQP_URL": through(amqp_url, mq),
                "VAR_DIR": str(tmp_path / "var"),
                "MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
                "BILLING_GRPC_PORT": str(free_port()),
                "GRPC_HEALTH_PORT": str(health_port),
                "HEALTH_CHECK_INTERVAL_S": "1",
                "LOG_LEVEL": "info",
            }
            with (tmp_path / "billing.log").open("wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "services.billing"],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                try:
                    wait_for(
                        lambda: proc.poll() is not None or status(health_port) == "SERVING",
                        timeout=90,
                        what="billing to become ready",
                    )
                    assert proc.poll() is None, (tmp_path / "billing.log").read_text()[-3000:]
                    yield health_port, db, mq
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=60)


@pytest.mark.parametrize("backend", ["database", "broker"])
def test_readiness_follows_the_backend_and_liveness_stays(billing, backend) -> None:
    port, db, mq = billing
    proxy = db if backend == "database" else mq
    assert status(port, LIVENESS) == "SERVING"
    assert status(port, "picopt.billing.v1.BillingService") == "SERVING"

    proxy.cut()
    wait_for(
        lambda: status(port) == "NOT_SERVING", timeout=20, what=f"NOT_SERVING without {backend}"
    )
    assert status(port, "picopt.billing.v1.BillingService") == "NOT_SERVING"
    assert status(port, LIVENESS) == "SERVING"

    proxy.restore()
    wait_for(lambda: status(port) == "SERVING", timeout=45, what=f"SERVING once {backend} is back")
    assert status(port, LIVENESS) == "SERVING"
