"""`/healthz` (the process answers) and `/readyz` (it can reach what it needs).

Ready means every gRPC backend the gateway needs to serve requests reports SERVING on the
standard health service (itself NOT_SERVING while that backend lost its database or
broker, picopt.kernel.health) and Redis, when configured, answers PING. Vision is not
among them: the gateway only asks it for facts it remembers (`NEEDED_FOR_READINESS`). A pod
that is not ready leaves the Service's endpoints; liveness never looks at the
backends, since restarting the gateway would not bring them back.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc
from flask import Blueprint, Response, current_app, jsonify
from grpc_health.v1 import health_pb2, health_pb2_grpc

from picopt.kernel.grpc_client import service_channel
from picopt.kernel.settings import Settings
from services.gateway.backends import NEEDED_FOR_READINESS

# Probes arrive every few seconds per worker; one verdict serves them for this long.
CACHE_S = 1.0
CHECK_TIMEOUT_S = 1.0

bp = Blueprint("health", __name__)


class BackendHealth:
    """Asks each backend's health service and Redis; remembers the answer for CACHE_S."""

    def __init__(
        self, settings: Settings, backends: tuple[str, ...] = NEEDED_FOR_READINESS
    ) -> None:
        self._stubs = {
            name: health_pb2_grpc.HealthStub(
                service_channel(settings, name, deadline_s=CHECK_TIMEOUT_S)
            )
            for name in backends
        }
        self._redis: Any = None
        if settings.redis_url:
            import redis

            self._redis = redis.Redis.from_url(
                settings.redis_url,
                socket_timeout=CHECK_TIMEOUT_S,
                socket_connect_timeout=CHECK_TIMEOUT_S,
            )
        self._lock = threading.Lock()
        self._checked_at = -CACHE_S
        self._verdict: dict[str, str] = {}

    def verdict(self) -> dict[str, str]:
        """Each backend's state: "ok", or why not (a status name or an error type)."""
        with self._lock:
            if time.monotonic() - self._checked_at >= CACHE_S:
                self._verdict = self._check()
                self._checked_at = time.monotonic()
            return dict(self._verdict)

    def _check(self) -> dict[str, str]:
        states = {name: self._grpc_state(stub) for name, stub in self._stubs.items()}
        if self._redis is not None:
            try:
                self._redis.ping()
                states["redis"] = "ok"
            except Exception as exc:
                states["redis"] = type(exc).__name__
        return states

    @staticmethod
    def _grpc_state(stub: Any) -> str:
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=CHECK_TIMEOUT_S)
        except grpc.RpcError as err:
            return err.code().name if hasattr(err, "code") else "UNKNOWN"
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return "ok"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks = current_app.extensions["backend_health"].verdict()
    ready = all(state == "ok" for state in checks.values())
    return jsonify({"status": "ready" if ready else "not-ready", "checks": checks}), (
        200 if ready else 503
    )
