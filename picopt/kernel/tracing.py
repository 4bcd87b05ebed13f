"""OpenTelemetry traces across HTTP, gRPC and AMQP: one trace per job.

The gateway opens a server span per request (continuing an incoming W3C
`traceparent`), gRPC metadata and event envelopes carry the `traceparent` of
the current span, and each gRPC call and consumed event opens a span under the
one that caused it — so a job's upload, optimization, analysis and completion
share one trace id. Log lines take the trace id of the current span
(`picopt.kernel.logs`).

Spans are exported by OTLP only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`..._TRACES_ENDPOINT`) is set; protocol from `OTEL_EXPORTER_OTLP_PROTOCOL`
(`http/protobuf`, the default, or `grpc`). Without it trace ids still
propagate and reach the logs; nothing is exported. `OTEL_TRACES_EXPORTER=console`
prints spans (debugging), `none` disables export.

Which traces are kept: `OTEL_TRACES_SAMPLER` (`parentbased_always_on` by default,
`parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG=0.1` keeps one in ten;
also `always_on`, `always_off`, `traceidratio`, `parentbased_always_off`). A
parent-based sampler follows the decision that arrives with the caller's
traceparent, so a job's trace is kept or dropped whole. Dropped traces still
propagate their ids to the logs.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from picopt.kernel.logs import bind_context, get_logger
from picopt.kernel.settings import Env, SettingsError

log = get_logger(__name__)

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER_NAME = "picopt"
_configured_lock = threading.Lock()
_provider: TracerProvider | None = None

__all__ = [
    "SpanKind",
    "configure",
    "continue_trace",
    "current_trace_id",
    "current_traceparent",
    "new_traceparent",
    "record_error",
    "shutdown",
    "span",
    "trace_id_of",
]


def _exporter(env: Env) -> SpanExporter | None:
    choice = env.str("OTEL_TRACES_EXPORTER", "otlp").lower()
    if choice == "none" or env.bool("OTEL_SDK_DISABLED", False):
        return None
    if choice == "console":
        return ConsoleSpanExporter()
    if choice != "otlp":
        raise SettingsError(f"OTEL_TRACES_EXPORTER must be otlp, console or none, got {choice!r}")
    traces_endpoint = env.str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    endpoint = env.str("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not traces_endpoint and not endpoint:
        return None
    default_protocol = env.str("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    protocol = env.str("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", default_protocol)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(endpoint=traces_endpoint or endpoint)
    if protocol != "http/protobuf":
        raise SettingsError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or grpc, got {protocol!r}"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=traces_endpoint or f"{endpoint.rstrip('/')}/v1/traces")


def sampler(env: Env) -> Sampler:
    """The sampler OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG name (OpenTelemetry's names)."""
    name = env.str("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    ratio = env.float("OTEL_TRACES_SAMPLER_ARG", 1.0)
    if not 0.0 <= ratio <= 1.0:
        raise SettingsError(f"OTEL_TRACES_SAMPLER_ARG must be between 0 and 1, got {ratio}")
    roots: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
    }
    if name in roots:
        return roots[name]
    if name.startswith("parentbased_") and name.removeprefix("parentbased_") in roots:
        return ParentBased(roots[name.removeprefix("parentbased_")])
    choices = ", ".join([*roots, *(f"parentbased_{r}" for r in roots)])
    raise SettingsError(f"OTEL_TRACES_SAMPLER must be one of {choices}, got {name!r}")


def configure(service: str, env: Mapping[str, str] | None = None) -> None:
    """Install this process's tracer provider once (later calls keep the first one)."""
    global _provider
    with _configured_lock:
        if _provider is not None:
            return
        settings = Env(env)
        resource = Resource.create(
            {"service.name": settings.str("OTEL_SERVICE_NAME", f"picopt-{service}")}
        )
        provider = TracerProvider(resource=resource, sampler=sampler(settings))
        exporter = _exporter(settings)
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _provider = provider
        log.debug("tracing_configured", exporter=type(exporter).__name__ if exporter else "none")


def shutdown() -> None:
    """Flush pending spans (at process exit)."""
    if _provider is not None:
        _provider.shutdown()


def _tracer() -> trace.Tracer:
    return trace.get_tracer(_TRACER_NAME)


def _remote_parent(traceparent: str) -> otel_context.Context:
    """The context of the remote parent a traceparent names; empty (a new trace) if invalid."""
    if not _TRACEPARENT.match(traceparent):
        return otel_context.Context()
    return _PROPAGATOR.extract({"traceparent": traceparent}, context=otel_context.Context())


@contextmanager
def span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    traceparent: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span]:
    """A span made current for the block.

    With `traceparent` (from gRPC metadata or an event envelope; "" when absent) the span
    continues that remote trace or starts a new one; without it, it is a child of the
    current span.
    """
    parent = _remote_parent(traceparent) if traceparent is not None else None
    with _tracer().start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes=dict(attributes or {}),
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        yield current


def record_error(current: Span, error_type: str) -> None:
    """Mark a span failed with the error's type only (messages may hold personal data)."""
    current.set_status(Status(StatusCode.ERROR, error_type))
    current.set_attribute("error.type", error_type)


def current_traceparent() -> str:
    """The W3C traceparent of the current span ("" outside any span)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent", "")


def current_trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""


def new_traceparent(trace_id: str | None = None) -> str:
    """A fresh span id under the given (or a new) trace id."""
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def trace_id_of(traceparent: str) -> str:
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else ""


def continue_trace(traceparent: str | None) -> str:
    """Bind an incoming trace id to the logs until a span takes over; returns it.

    Kept for callers from before OpenTelemetry: spans (`span`) are what carry
    traces now, and log lines inside a span always show that span's trace id.
    """
    current = current_traceparent() or (traceparent or "")
    trace_id = trace_id_of(current)
    if trace_id:
        bind_context(trace_id=trace_id)
    return current
