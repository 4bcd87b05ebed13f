"""Health and connection ageing of the kernel's gRPC server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from picopt.kernel.grpc_client import make_channel
from picopt.kernel.grpc_server import GrpcServer
from picopt.kernel.health import LIVENESS, Readiness


def status(channel: grpc.Channel, service: str = "") -> str:
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=3
    )
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


@pytest.fixture
def server() -> Iterator[GrpcServer]:
    server = GrpcServer("test", "127.0.0.1", 0)
    server.start()
    yield server
    server.stop(0)


def test_readiness_drives_every_service_and_liveness_stays(server: GrpcServer) -> None:
    with make_channel(f"127.0.0.1:{server.port}") as channel:
        assert status(channel) == status(channel, LIVENESS) == "SERVING"
        server.set_ready(False)
        assert status(channel) == "NOT_SERVING"
        assert status(channel, "grpc.health.v1.Health") == "NOT_SERVING"
        assert status(channel, LIVENESS) == "SERVING"
        server.set_ready(True)
        assert status(channel) == "SERVING"


def test_a_stopping_server_stays_not_serving(server: GrpcServer) -> None:
    with make_channel(f"127.0.0.1:{server.port}") as channel:
        server.health.enter_graceful_shutdown()
        server.set_ready(True)
        assert status(channel) == status(channel, LIVENESS) == "NOT_SERVING"


def test_readiness_reports_each_failing_check_by_type_and_every_change() -> None:
    verdicts: list[bool] = []
    database_up = True

    def database() -> None:
        if not database_up:
            raise ConnectionRefusedError("postgresql://user:secret@db")

    readiness = Readiness(60, verdicts.append)
    readiness.add("database", database)
    readiness.add("broker", lambda: True)
    assert readiness.evaluate() is True
    database_up = False
    assert readiness.failing() == {"database": "ConnectionRefusedError"}
    assert readiness.evaluate() is False
    assert readiness.evaluate() is False
    database_up = True
    readiness.add("consumer", lambda: False)
    assert readiness.failing() == {"consumer": "unreachable"}
    assert verdicts == [True, False]


def test_connections_are_recycled_after_their_age_without_failing_calls() -> None:
    """After max_connection_age the client reconnects (and could reach another replica)."""
    server = GrpcServer("test", "127.0.0.1", 0, max_connection_age_s=0.5)
    server.start()
    states: list[grpc.ChannelConnectivity] = []
    try:
        with make_channel(f"127.0.0.1:{server.port}") as channel:
            channel.subscribe(states.append)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                assert status(channel) == "SERVING"
                time.sleep(0.1)
            channel.unsubscribe(states.append)
    finally:
        server.stop(0)
    assert states.count(grpc.ChannelConnectivity.READY) >= 2, states
