"""gRPC channels with a default deadline, propagated request ids and trace context.

`service_channel(settings, name)` is the one way a process reaches another service: the
address from the settings, the default deadline, and mTLS whenever GRPC_TLS_* are set,
with certificates that follow their files when they are renewed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import grpc

from picopt.kernel import tracing
from picopt.kernel.grpc_tls import TlsFiles
from picopt.kernel.logs import get_logger
from picopt.kernel.settings import Settings

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


def service_channel(
    settings: Settings,
    service: str,
    *,
    deadline_s: float | None = None,
    request_id: Callable[[], str] = _no_request_id,
) -> grpc.Channel:
    """A channel to `service` (auth, billing, ...) as the settings describe it, over mTLS
    when GRPC_TLS_* are set."""
    tls = TlsFiles.from_env(settings.env)
    return make_channel(
        settings.addresses[service],
        settings.grpc_deadline_s if deadline_s is None else deadline_s,
        request_id,
        tls=tls,
        server_name=tls.server_name if tls else "",
        keepalive_s=settings.grpc_keepalive_s,
    )


def make_channel(
    address: str,
    deadline_s: float = 5.0,
    request_id: Callable[[], str] = _no_request_id,
    credentials: grpc.ChannelCredentials | None = None,
    *,
    tls: TlsFiles | None = None,
    server_name: str = "",
    keepalive_s: float = 20.0,
) -> grpc.Channel:
    """A channel whose calls always carry a deadline; TLS with `credentials` (fixed) or
    `tls` (renewed: the channel reconnects with new certificates once the files change),
    checking the server certificate for `server_name` instead of the address's host.

    Keepalive pings every `keepalive_s` find a peer that vanished without closing the
    connection (a lost node) in seconds instead of TCP's minutes; the servers accept them
    (picopt.kernel.grpc_server.connection_options).
    """
    if tls is not None and credentials is None:
        return _RenewingChannel(
            lambda creds: make_channel(
                address,
                deadline_s,
                request_id,
                creds,
                server_name=server_name,
                keepalive_s=keepalive_s,
            ),
            tls,
        )
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


class _RenewingChannel(grpc.Channel):
    """A channel that moves to fresh credentials when its certificate files are renewed.

    grpc's channel credentials are fixed once built, so a renewal means a new underlying
    channel: calls made from then on use it, calls in flight finish on the old one, which
    is closed at the next renewal (renewals are days apart, calls last seconds).
    """

    def __init__(self, build: Callable[[grpc.ChannelCredentials], grpc.Channel], tls: TlsFiles):
        self._build = build
        self._tls = tls
        self._lock = threading.Lock()
        self._version = tls.version
        self._channel = build(tls.channel_credentials())
        self._retired: grpc.Channel | None = None

    def current(self) -> grpc.Channel:
        self._tls.current()
        if self._tls.version == self._version:
            return self._channel
        with self._lock:
            if self._tls.version != self._version:
                if self._retired is not None:
                    self._retired.close()
                self._retired = self._channel
                self._version = self._tls.version
                self._channel = self._build(self._tls.channel_credentials())
                log.info("grpc_channel_renewed", version=self._version)
            return self._channel

    def _multicallable(self, kind: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Renewing(self, kind, method, args, kwargs)

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._multicallable("unary_unary", method, *args, **kwargs)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._multicallable("unary_stream", method, *args, **kwargs)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._multicallable("stream_unary", method, *args, **kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._multicallable("stream_stream", method, *args, **kwargs)

    def subscribe(self, callback: Any, try_to_connect: bool = False) -> None:
        self.current().subscribe(callback, try_to_connect)

    def unsubscribe(self, callback: Any) -> None:
        self._channel.unsubscribe(callback)

    def close(self) -> None:
        with self._lock:
            for channel in (self._channel, self._retired):
                if channel is not None:
                    channel.close()

    def __enter__(self) -> _RenewingChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Renewing:
    """A stub's method that resolves the channel at call time (stubs keep their callables)."""

    def __init__(
        self, owner: _RenewingChannel, kind: str, method: str, args: tuple[Any, ...], kwargs: Any
    ) -> None:
        self._owner, self._kind, self._method = owner, kind, method
        self._args, self._kwargs = args, kwargs
        self._made: tuple[grpc.Channel, Any] | None = None

    def _target(self) -> Any:
        channel = self._owner.current()
        made = self._made
        if made is None or made[0] is not channel:
            factory = getattr(channel, self._kind)
            made = self._made = (channel, factory(self._method, *self._args, **self._kwargs))
        return made[1]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._target()(*args, **kwargs)

    def with_call(self, *args: Any, **kwargs: Any) -> Any:
        return self._target().with_call(*args, **kwargs)

    def future(self, *args: Any, **kwargs: Any) -> Any:
        return self._target().future(*args, **kwargs)
