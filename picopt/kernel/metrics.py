"""Prometheus metrics, defined once for every service.

Every metric the services export lives here, so names, labels and buckets are
consistent and an operator finds the whole list in one file (deploy/README.md
explains the alert-worthy ones). Labels are bounded sets only: route templates,
gRPC method names, queue names, formats, reasons — never ids.

Services serve them on `METRICS_PORT` (started by `ServiceApp`); the gateway
serves `/metrics` itself and aggregates its gunicorn workers through the
client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, see `registry()`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client import multiprocess as _multiprocess

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Latency buckets from a fast RPC (1 ms) to a slow image (2 min).
_LATENCY = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Queue lag: seconds between an event's occurrence and its delivery to a handler.
_LAG = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

# -- gateway (HTTP) --------------------------------------------------------
HTTP_REQUESTS = Counter(
    "picopt_http_requests",
    "HTTP requests answered by the gateway.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "picopt_http_request_duration_seconds",
    "Time to answer an HTTP request at the gateway.",
    ["route", "method"],
    buckets=_LATENCY,
)

# -- gRPC servers ------------------------------------------------------------
GRPC_HANDLED = Counter(
    "picopt_grpc_server_handled",
    "gRPC calls answered, by full method name and status code.",
    ["method", "code"],
)
GRPC_SECONDS = Histogram(
    "picopt_grpc_server_handling_seconds",
    "Time to answer a gRPC call.",
    ["method"],
    buckets=_LATENCY,
)

# -- event consumers and the outbox -----------------------------------------
EVENTS_CONSUMED = Counter(
    "picopt_events_consumed",
    "Events taken from a queue, by outcome "
    "(handled, duplicate, retried, dead_lettered, abandoned).",
    ["queue", "outcome"],
)
EVENT_HANDLER_SECONDS = Histogram(
    "picopt_event_handler_seconds",
    "Time a handler spent on one event (prepare step included).",
    ["queue"],
    buckets=_LATENCY,
)
EVENT_LAG_SECONDS = Histogram(
    "picopt_event_consume_lag_seconds",
    "Seconds from an event's occurred_at to the moment a consumer starts it.",
    ["queue"],
    buckets=_LAG,
)
OUTBOX_PENDING = Gauge(
    "picopt_outbox_pending_events",
    "Committed events not yet published to the broker.",
    multiprocess_mode="max",
)
OUTBOX_OLDEST_PENDING = Gauge(
    "picopt_outbox_oldest_pending_seconds",
    "Age of the oldest committed event not yet published (0 when none is pending).",
    multiprocess_mode="max",
)
OUTBOX_DISCARDED = Counter(
    "picopt_outbox_discarded",
    "Events deleted from the outbox because they could not be published for too long.",
    ["event_type"],
)

# -- processor -----------------------------------------------------------------
JOB_TRANSITIONS = Counter(
    "picopt_job_transitions",
    "Jobs moving from one status to another.",
    ["from_status", "to_status"],
)
PROCESSING_SECONDS = Histogram(
    "picopt_job_processing_seconds",
    "Time to optimize one image (fetch, engine, store), by output format.",
    ["format"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120),
)
IMAGE_BYTES = Counter(
    "picopt_image_bytes",
    "Image bytes through the workers: direction in (uploads) or out (main results).",
    ["direction"],
)

# -- billing, retention --------------------------------------------------------
CREDITS_CONSUMED = Counter(
    "picopt_credits_consumed",
    "Credits captured for finished jobs.",
)
DELETIONS = Counter(
    "picopt_blob_deletions",
    "Images deleted by retention, by reason.",
    ["reason"],
)
PRIVACY_OVERDUE = Gauge(
    "picopt_privacy_requests_overdue",
    "Open data-subject requests flagged overdue (their deadline is near or past).",
    multiprocess_mode="max",
)

_PENDING_AFTER_COMMIT = "picopt_metrics_after_commit"


def after_commit(session: Session, update: Callable[[], Any]) -> None:
    """Run `update` once the session's transaction commits (never after a rollback).

    Counters of business facts (a job finished, credits captured) must not count a
    transaction that rolled back and will be retried.
    """
    _listen_to_sessions()
    session.info.setdefault(_PENDING_AFTER_COMMIT, []).append(update)


@cache
def _listen_to_sessions() -> None:
    """Hook every Session's commit and rollback, once, on first use: a process without a
    database (the gateway) never loads SQLAlchemy for its metrics."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    def run(session: Session) -> None:
        for update in session.info.pop(_PENDING_AFTER_COMMIT, []):
            update()

    def drop(session: Session) -> None:
        session.info.pop(_PENDING_AFTER_COMMIT, None)

    event.listen(Session, "after_commit", run)
    event.listen(Session, "after_rollback", drop)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def registry() -> CollectorRegistry:
    """What to expose: every worker's samples in multiprocess mode, else this process."""
    if multiprocess_dir():
        merged = CollectorRegistry()
        _multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged
    from prometheus_client import REGISTRY

    return REGISTRY


def render() -> bytes:
    """The exposition text for a scrape."""
    return generate_latest(registry())


def serve(port: int, host: str = "127.0.0.1") -> Any:
    """Serve /metrics on its own port in a daemon thread; returns the HTTP server."""
    server, _thread = start_http_server(port, addr=host, registry=registry())
    return server
