"""The gateway's traces and metrics: a server span per request, HTTP counters, /metrics.

Each request runs in a span that continues the caller's W3C `traceparent` (or
starts the job's trace); the gRPC calls it makes and the events they cause
carry it on. Requests are counted and timed by route template, never by path.

Metrics of every gunicorn worker are merged (`__main__` sets
PROMETHEUS_MULTIPROC_DIR before the workers start, so the samples live in
shared files). They are served on the metrics port by the gunicorn master
when GATEWAY_METRICS_PORT/METRICS_PORT is set — never on the public port —
and otherwise at `/metrics` on the API port, for one-machine runs.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, request
from opentelemetry import trace

from picopt.kernel import metrics, tracing
from picopt.kernel.settings import Settings

_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


def install(app: Flask, settings: Settings) -> None:
    """Trace and count every request of `app`; serve /metrics when there is no metrics port."""
    tracing.configure("gateway", settings.env.env)

    @app.before_request
    def open_span() -> None:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        g.otel_started = time.perf_counter()
        with_span = tracing.span(
            f"{request.method} {route}",
            tracing.SpanKind.SERVER,
            traceparent=request.headers.get("traceparent", ""),
            attributes={"http.request.method": request.method, "http.route": route},
        )
        g.otel_span_cm = with_span
        with_span.__enter__()

    @app.after_request
    def count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        started = getattr(g, "otel_started", None)
        span = trace.get_current_span()
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500:
            tracing.record_error(span, str(response.status_code))
        if route not in _PROBES and started is not None:
            metrics.HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
            metrics.HTTP_SECONDS.labels(route, request.method).observe(
                time.perf_counter() - started
            )
        return response

    @app.teardown_request
    def close_span(error: BaseException | None) -> None:
        with_span: Any = g.pop("otel_span_cm", None)
        if with_span is not None:
            with_span.__exit__(None, None, None)

    if not settings.metrics_port:

        @app.get("/metrics")
        def scrape() -> Response:
            return Response(metrics.render(), mimetype="text/plain; version=0.0.4")
