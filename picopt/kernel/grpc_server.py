"""gRPC server bootstrap: health, reflection, interceptors, connection ageing, graceful stop.

Every service builds its server here, so health checks, error mapping, deadline
handling and request logging behave the same everywhere.

Connections are recycled: after `max_connection_age_s` the server sends GOAWAY
and the client opens a new connection, which kube-proxy may send to another pod.
gRPC keeps one HTTP/2 connection per channel, so without this a caller would
stay on the pod it first reached and new replicas would get no share of the
load (README "Scaling"). Keepalive pings find dead peers in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from picopt.kernel import metrics, tracing
from picopt.kernel.errors import ERROR_CODE_KEY, AppError
from picopt.kernel.health import LIVENESS
from picopt.kernel.logs import bound_context, get_logger

log = get_logger(__name__)

# Calls slower than this are logged at info; others at debug, to keep logs useful.
SLOW_CALL_MS = 500.0
# In-flight calls get this long to finish on a connection being recycled (the longest
# deadline a caller sets is the staff CLI's 30 s).
CONNECTION_AGE_GRACE_S = 30.0
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def connection_options(max_connection_age_s: float, keepalive_s: float) -> list[tuple[str, int]]:
    """Server options: recycle connections after an age, ping idle clients, accept their pings."""
    options = [
        ("grpc.so_reuseport", 0),
        ("grpc.keepalive_time_ms", int(keepalive_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(max(keepalive_s / 2, 1) * 1000)),
        # Clients ping every keepalive_s (picopt.kernel.grpc_client): allow it, idle or not.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", int(max(keepalive_s / 2, 1) * 1000)),
    ]
    if max_connection_age_s > 0:
        options += [
            ("grpc.max_connection_age_ms", int(max_connection_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms", int(CONNECTION_AGE_GRACE_S * 1000)),
        ]
    return options


class _ContextInterceptor(grpc.ServerInterceptor):
    """Opens the call's span (under the caller's traceparent), binds the request id, maps
    AppError to a status, counts and times the call, logs the outcome."""

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = details.method
        inner = handler.unary_unary

        def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
            metadata = dict(context.invocation_metadata() or ())
            request_id = metadata.get("x-request-id", "")
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline already expired")
            started = time.perf_counter()
            code = "OK"
            with (
                tracing.span(
                    method.lstrip("/"),
                    tracing.SpanKind.SERVER,
                    traceparent=metadata.get("traceparent", ""),
                    attributes={"rpc.system": "grpc", "rpc.method": method},
                ) as span,
                bound_context(request_id=request_id, rpc=method),
            ):
                try:
                    return inner(request, context)
                except AppError as err:
                    code = err.status.name
                    context.set_trailing_metadata(((ERROR_CODE_KEY, err.code),))
                    context.abort(err.status, err.message)
                except Exception:
                    if context.code() not in (None, grpc.StatusCode.OK):
                        code = context.code().name
                        raise
                    code = "INTERNAL"
                    log.exception("grpc_unhandled_error")
                    context.abort(grpc.StatusCode.INTERNAL, "internal error")
                finally:
                    seconds = time.perf_counter() - started
                    span.set_attribute("rpc.grpc.status_code", code)
                    if code != "OK":
                        tracing.record_error(span, code)
                    metrics.GRPC_HANDLED.labels(method, code).inc()
                    metrics.GRPC_SECONDS.labels(method).observe(seconds)
                    ms = seconds * 1000
                    level = log.info if ms > SLOW_CALL_MS or code != "OK" else log.debug
                    level("grpc_call", code=code, ms=round(ms, 1))

        return grpc.unary_unary_rpc_method_handler(
            wrapper,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class GrpcServer:
    """A started-on-demand gRPC server with the standard health service.

    With `credentials` the port speaks TLS (mTLS when they require client
    certificates); `health_port` then serves the same health status in plaintext,
    with nothing else on it, for probes that cannot speak TLS (Kubernetes' gRPC probes).
    Health: `LIVENESS` is SERVING from start to stop; "" and the registered services
    follow `set_ready` (picopt.kernel.health), SERVING from start until told otherwise.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        max_workers: int = 16,
        credentials: grpc.ServerCredentials | None = None,
        health_port: int = 0,
        *,
        max_connection_age_s: float = 60.0,
        keepalive_s: float = 20.0,
    ) -> None:
        self.name = name
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"{name}-grpc"),
            interceptors=[_ContextInterceptor()],
            options=connection_options(max_connection_age_s, keepalive_s),
        )
        self._ready = True
        self._started = False
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._service_names: list[str] = [health.SERVICE_NAME]
        address = f"{host}:{port}"
        bound = (
            self.server.add_secure_port(address, credentials)
            if credentials
            else self.server.add_insecure_port(address)
        )
        if bound == 0:
            raise RuntimeError(f"cannot bind gRPC port {address}")
        self.port = bound
        self.health_server: grpc.Server | None = None
        self.health_port = 0
        if health_port:
            self.health_server = grpc.server(
                futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{name}-health"),
                options=[("grpc.so_reuseport", 0)],
            )
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
            self.health_port = self.health_server.add_insecure_port(f"{host}:{health_port}")
            if self.health_port == 0:
                raise RuntimeError(f"cannot bind gRPC health port {host}:{health_port}")

    def add(
        self, register: Callable[[Any, grpc.Server], None], servicer: Any, names: Iterable[str]
    ) -> None:
        """Register a servicer with its full service names (for health and reflection)."""
        register(servicer, self.server)
        self._service_names.extend(names)

    def start(self) -> None:
        reflection.enable_server_reflection(
            [*self._service_names, reflection.SERVICE_NAME], self.server
        )
        self.server.start()
        if self.health_server is not None:
            self.health_server.start()
        self._started = True
        self.health.set(LIVENESS, _SERVING)
        self._publish_readiness()
        log.info("grpc_server_started", port=self.port, health_port=self.health_port or None)

    def set_ready(self, ready: bool) -> None:
        """Readiness of the whole process: "" and every registered service follow it."""
        self._ready = ready
        if self._started:
            self._publish_readiness()

    def _publish_readiness(self) -> None:
        for service in ["", *self._service_names]:
            self.health.set(service, _SERVING if self._ready else _NOT_SERVING)

    def stop(self, grace: float = 10.0) -> None:
        """Stop answering health checks first, then drain in-flight calls."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self.health_server is not None:
            self.health_server.stop(0).wait()
        log.info("grpc_server_stopped")
