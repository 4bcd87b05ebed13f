"""gRPC channels with a default deadline, propagated request ids and trace context."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc

from picopt.kernel import tracing
from picopt.kernel.logs import get_logger

log = get_logger(__name__)

# Transparent retries for calls that never reached a server (all our RPCs are
# idempotent by id, so retrying UNAVAILABLE is safe).
_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


class _ClientCallDetails(grpc.ClientCallDetails):
    def __init__(self, base: Any, timeout: float | None, metadata: list[tuple[str, str]]) -> None:
        self.method = base.method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = base.credentials
        self.wait_for_ready = base.wait_for_ready
        self.compression = getattr(base, "compression", None)


class _DefaultsInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Adds a deadline when the caller gave none and the request id; opens a client span
    whose traceparent travels in the metadata."""

    def __init__(self, deadline_s: float, request_id: Callable[[], str]) -> None:
        self.deadline_s = deadline_s
        self.request_id = request_id

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = list(details.metadata or ())
        request_id = self.request_id()
        if request_id:
            metadata.append(("x-request-id", request_id))
        timeout = details.timeout if details.timeout is not None else self.deadline_s
        with tracing.span(
            details.method.lstrip("/"),
            tracing.SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.method": details.method},
        ) as span:
            traceparent = tracing.current_traceparent()
            if traceparent:
                metadata.append(("traceparent", traceparent))
            outcome = continuation(_ClientCallDetails(details, timeout, metadata), request)
            # Blocking calls are complete here; a future's span covers only its start.
            if outcome.done():
                code = outcome.code()
                name = code.name if code is not None else "OK"
                span.set_attribute("rpc.grpc.status_code", name)
                if name != "OK":
                    tracing.record_error(span, name)
            return outcome


def _no_request_id() -> str:
    return ""


def make_channel(
    address: str,
    deadline_s: float = 5.0,
    request_id: Callable[[], str] = _no_request_id,
    credentials: grpc.ChannelCredentials | None = None,
    *,
    server_name: str = "",
    keepalive_s: float = 20.0,
) -> grpc.Channel:
    """A channel whose calls always carry a deadline; TLS with `credentials`, checking the
    server certificate for `server_name` instead of the address's host when given.

    Keepalive pings every `keepalive_s` find a peer that vanished without closing the
    connection (a lost node) in seconds instead of TCP's minutes; the servers accept them
    (picopt.kernel.grpc_server.connection_options).
    """
    options = [
        ("grpc.service_config", _SERVICE_CONFIG),
        ("grpc.enable_retries", 1),
        # Reconnect quickly after a peer restarts (the default backoff grows to 2 minutes).
        ("grpc.initial_reconnect_backoff_ms", 250),
        ("grpc.min_reconnect_backoff_ms", 250),
        ("grpc.max_reconnect_backoff_ms", 3000),
        ("grpc.keepalive_time_ms", int(keepalive_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(max(keepalive_s / 2, 1) * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    if credentials and server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    base = (
        grpc.secure_channel(address, credentials, options=options)
        if credentials
        else grpc.insecure_channel(address, options=options)
    )
    return grpc.intercept_channel(base, _DefaultsInterceptor(deadline_s, request_id))
