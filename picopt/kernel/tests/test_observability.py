"""Traces and metrics from the kernel: gRPC calls and events continue one trace, log lines
carry its id, and calls, events and committed facts are counted. Real broker and SQLite."""

from __future__ import annotations

import io
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from picopt.devstack import free_port
from picopt.events.v1 import events_pb2
from picopt.kernel import logs, metrics, tracing
from picopt.kernel.db import Database
from picopt.kernel.grpc_client import make_channel
from picopt.kernel.grpc_server import GrpcServer
from picopt.kernel.messaging import HandlerContext, Outbox, OutboxRelay, Subscription
from picopt.kernel.settings import Env, SettingsError
from picopt.kernel.tests.bus import AMQP_URL, JOB, Bus, job, running, wait_for

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    tracing.configure("test", {})
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    if not getattr(provider, "_picopt_test_exporter", False):
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        provider._picopt_test_exporter = True  # type: ignore[attr-defined]
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("test", "debug", stream=stream)
    yield stream
    structlog.reset_defaults()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def by_name(exported: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    matches = [s for s in exported if s.name == name]
    assert len(matches) == 1, [s.name for s in exported]
    return matches[0]


def test_grpc_call_continues_the_callers_trace_and_is_counted(
    spans: InMemorySpanExporter,
) -> None:
    server = GrpcServer("test", "127.0.0.1", 0)
    server.start()
    method = "/grpc.health.v1.Health/Check"
    before = sample("picopt_grpc_server_handled_total", method=method, code="OK")
    try:
        with (
            make_channel(f"127.0.0.1:{server.port}") as channel,
            tracing.span("caller") as caller,
        ):
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    finally:
        server.stop(0)
    exported = spans.get_finished_spans()
    client = [s for s in exported if s.kind == trace.SpanKind.CLIENT]
    served = [s for s in exported if s.kind == trace.SpanKind.SERVER]
    assert len(client) == len(served) == 1
    assert client[0].name == served[0].name == "grpc.health.v1.Health/Check"
    trace_id = caller.get_span_context().trace_id
    assert client[0].context.trace_id == served[0].context.trace_id == trace_id
    assert served[0].parent is not None
    assert served[0].parent.span_id == client[0].context.span_id
    assert (served[0].attributes or {}).get("rpc.grpc.status_code") == "OK"
    assert sample("picopt_grpc_server_handled_total", method=method, code="OK") == before + 1
    assert sample("picopt_grpc_server_handling_seconds_count", method=method) >= 1


def test_event_continues_the_producers_trace_and_logs_carry_it(
    bus: Bus,
    sqlite_db: Database,
    spans: InMemorySpanExporter,
    log_lines: io.StringIO,
) -> None:
    seen: list[str] = []
    done = threading.Event()

    def handler(ctx: HandlerContext) -> None:
        seen.append(tracing.current_trace_id())
        logs.get_logger("test").info("widget_handled")
        done.set()

    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, handler)], db=sqlite_db)
    queue = consumer.queues[0]
    handled_before = sample("picopt_events_consumed_total", queue=queue, outcome="handled")
    with tracing.span("upload") as upload, sqlite_db.session() as session:
        Outbox("test").add(session, JOB, events_pb2.JobSubmitted(job_id="j1", owner_id="o"))
    relay = OutboxRelay(sqlite_db, AMQP_URL, exchange=bus.exchange)
    with running(consumer):
        wait_for(lambda: relay.run_once() == 1, what="event published")
        assert done.wait(15)
        wait_for(
            lambda: (
                sample("picopt_events_consumed_total", queue=queue, outcome="handled")
                == handled_before + 1
            ),
            what="outcome counted",
        )
    relay.stop()
    trace_id = format(upload.get_span_context().trace_id, "032x")
    assert seen == [trace_id]
    consumed = by_name(spans.get_finished_spans(), f"{queue} process")
    assert consumed.kind == trace.SpanKind.CONSUMER
    assert consumed.parent is not None
    assert consumed.parent.span_id == upload.get_span_context().span_id
    line = next(
        json.loads(raw) for raw in log_lines.getvalue().splitlines() if "widget_handled" in raw
    )
    assert line["trace_id"] == trace_id
    assert line["queue"] == queue and line["event_id"]
    assert sample("picopt_event_consume_lag_seconds_count", queue=queue) >= 1
    assert sample("picopt_event_handler_seconds_count", queue=queue) >= 1


def test_event_without_traceparent_starts_its_own_trace(
    bus: Bus,
    spans: InMemorySpanExporter,
) -> None:
    seen: list[str] = []
    done = threading.Event()

    def handler(ctx: HandlerContext) -> None:
        seen.append(tracing.current_trace_id())
        done.set()

    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, handler)])
    with running(consumer):
        publisher = bus.publisher()
        publisher.publish(job("untraced"))
        publisher.close()
        assert done.wait(15)
    assert len(seen) == 1 and len(seen[0]) == 32 and set(seen[0]) != {"0"}


def test_counters_of_business_facts_count_only_committed_transactions(
    sqlite_db: Database,
) -> None:
    counted: list[str] = []
    with sqlite_db.session() as session:
        metrics.after_commit(session, lambda: counted.append("committed"))
        assert counted == []
    assert counted == ["committed"]
    with pytest.raises(RuntimeError), sqlite_db.session() as session:
        metrics.after_commit(session, lambda: counted.append("rolled back"))
        raise RuntimeError("business rule failed")
    with sqlite_db.session() as session:
        pass
    assert counted == ["committed"]


def test_stop_grace_abandons_the_message_for_redelivery(
    bus: Bus,
) -> None:
    """A handler that outlives the grace period is left behind; the broker gets it back."""
    entered, release = threading.Event(), threading.Event()

    def handler(ctx: HandlerContext) -> None:
        entered.set()
        release.wait(30)

    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, handler)], stop_grace_s=0.5)
    queue = consumer.queues[0]
    abandoned_before = sample("picopt_events_consumed_total", queue=queue, outcome="abandoned")
    consumer.declare()
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    publisher = bus.publisher()
    publisher.publish(job("too-slow"))
    publisher.close()
    try:
        assert entered.wait(15)
        consumer.stop()
        thread.join(15)
        assert not thread.is_alive(), "run() waited for the abandoned handler"
        wait_for(lambda: bus.count(queue) == 1, what="message back in the queue")
    finally:
        release.set()
    assert (
        sample("picopt_events_consumed_total", queue=queue, outcome="abandoned")
        == abandoned_before + 1
    )


def test_metrics_port_serves_the_exposition_text(tmp_path: Path) -> None:
    port = free_port()
    server = metrics.serve(port)
    try:
        metrics.JOB_TRANSITIONS.labels("queued", "processing").inc()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    finally:
        server.shutdown()
    assert 'picopt_job_transitions_total{from_status="queued",to_status="processing"}' in text
    assert "# TYPE picopt_grpc_server_handling_seconds histogram" in text


@pytest.mark.parametrize(
    ("settings", "kept"),
    [
        ({}, 1000),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, 0),
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": ".1"}, 100),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}, 0),
    ],
)
def test_the_trace_sampler_keeps_the_configured_share_and_ids_still_propagate(
    settings: dict[str, str], kept: int
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing.sampler(Env(settings)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for _ in range(1000):
        with tracer.start_as_current_span("root") as root:
            assert root.get_span_context().is_valid  # log lines get a trace id either way
    assert abs(len(exporter.get_finished_spans()) - kept) <= kept * 0.3


def test_a_child_follows_its_callers_sampling_decision() -> None:
    provider = TracerProvider(
        sampler=tracing.sampler(
            Env({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"})
        )
    )
    tracer = provider.get_tracer("test")
    sampled = tracing._remote_parent(tracing.new_traceparent())  # flags 01: the caller kept it
    with tracer.start_as_current_span("child", context=sampled) as child:
        assert child.is_recording()


@pytest.mark.parametrize(
    "settings",
    [
        {"OTEL_TRACES_SAMPLER": "sometimes"},
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "a tenth"},
    ],
)
def test_an_unusable_sampler_setting_is_refused(settings: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        tracing.sampler(Env(settings))
