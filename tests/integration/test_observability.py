"""Traces, metrics and mTLS from the real services.

One stack exports its spans by OTLP to a receiver in this process and serves
metrics on a port per process: a job's spans — gateway, processor API, worker,
vision, the completion handler, billing — share one trace id, and a scrape shows
the job in the counters. mTLS is checked on a real service process.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from picopt.client import Client
from picopt.devstack import ROOT, Stack, free_port
from picopt.kernel.tests.certs import TestCA
from tests.integration.conftest import new_user, wait_for
from tests.integration.harness import fresh_vhost, running_stack
from tests.integration.images import skimage_photo
from tests.integration.otlp_receiver import Receiver, otlp_receiver

pytestmark = pytest.mark.integration

METRICS_PORTS = ("GATEWAY", "AUTH", "BILLING", "PROCESSOR", "WORKER", "VISION", "RETENTION")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Stack]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "GATEWAY_WORKERS": "2",
        **{f"{name}_METRICS_PORT": str(free_port()) for name in METRICS_PORTS},
    }
    with running_stack(tmp_path_factory.mktemp("observability"), env, workers=1) as running:
        yield running


@pytest.fixture(scope="module")
def user(stack: Stack) -> Client:
    return new_user(stack)


def scrape(stack: Stack, process: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    port = stack.env[f"{process}_METRICS_PORT"]
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_one_trace_per_job(stack: Stack, user: Client, receiver: Receiver) -> None:
    trace_id = secrets.token_hex(16)
    user.http.headers["traceparent"] = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    try:
        job = user.submit(skimage_photo("rocket.jpg"), accept="jpeg,webp", metadata=True)
    finally:
        del user.http.headers["traceparent"]
    done = user.wait(job["id"], timeout=120)
    assert done["status"] == "done", done["error"]

    expected = {
        ("picopt-gateway", "POST /v1/jobs"),
        ("picopt-processor", "picopt.processor.v1.ProcessorService/CreateJob"),
        ("picopt-processor", "processor.job.submitted process"),
        ("picopt-processor", "optimize"),
        ("picopt-vision", "vision.job.optimized process"),
        ("picopt-processor", "processor.job.analyzed process"),
        ("picopt-billing", "billing.job.completed process"),
        ("picopt-retention", "retention.job.completed process"),
    }
    wait_for(
        lambda: expected <= {(s.service, s.name) for s in receiver.trace(trace_id)},
        timeout=30,
        what=f"spans of every hop in trace {trace_id}",
    )
    spans = receiver.trace(trace_id)
    ids = {s.span_id for s in spans}
    # Every span hangs under another span of the same trace, up to the caller's.
    orphans = [s for s in spans if s.parent_span_id not in ids]
    assert {s.name for s in orphans} == {"POST /v1/jobs"}
    worker = next(s for s in spans if s.name == "processor.job.submitted process")
    assert worker.attributes["messaging.destination.name"] == "processor.job.submitted"

    # The trace id is on the log lines of the job's work in every service.
    logs = Path(stack.env["VAR_DIR"]).parent / "logs"
    for process, event in (
        ("gateway", "http_request"),
        ("worker.1", "job_optimized"),
        ("processor", "job_completed"),
    ):
        lines = [
            line for line in (logs / f"{process}.log").read_text().splitlines() if event in line
        ]
        assert any(f'"trace_id": "{trace_id}"' in line for line in lines), (process, event)


def test_a_scrape_shows_the_job(stack: Stack, user: Client) -> None:
    job = user.submit(skimage_photo("coffee.png"), format="webp", metadata=False)
    done = user.wait(job["id"], timeout=120)
    assert done["status"] == "done", done["error"]
    user.download(job["id"])

    worker = scrape(stack, "WORKER")
    assert (
        value(worker, "picopt_job_transitions_total", from_status="queued", to_status="processing")
        >= 1
    )
    assert (
        value(worker, "picopt_job_transitions_total", from_status="processing", to_status="done")
        >= 1
    )
    assert value(worker, "picopt_job_processing_seconds_count", format="webp") >= 1
    assert value(worker, "picopt_image_bytes_total", direction="in") >= done["input"]["bytes"]
    assert value(worker, "picopt_image_bytes_total", direction="out") >= done["output"]["bytes"]
    assert (
        value(
            worker,
            "picopt_events_consumed_total",
            queue="processor.job.submitted",
            outcome="handled",
        )
        >= 1
    )
    assert (
        value(worker, "picopt_event_consume_lag_seconds_count", queue="processor.job.submitted")
        >= 1
    )

    api = scrape(stack, "PROCESSOR")
    create = "/picopt.processor.v1.ProcessorService/CreateJob"
    assert value(api, "picopt_grpc_server_handled_total", method=create, code="OK") >= 1
    assert value(api, "picopt_grpc_server_handling_seconds_count", method=create) >= 1
    assert ("picopt_outbox_pending_events", ()) in api

    wait_for(
        lambda: value(scrape(stack, "BILLING"), "picopt_credits_consumed_total") >= 1,
        what="credits captured",
    )
    wait_for(
        lambda: (
            value(scrape(stack, "RETENTION"), "picopt_blob_deletions_total", reason="job_ended")
            >= 1
        ),
        what="the original's deletion counted",
    )
    assert ("picopt_privacy_requests_overdue", ()) in scrape(stack, "RETENTION")


def test_gateway_metrics_merge_every_worker(stack: Stack) -> None:
    route = dict(route="/v1/openapi.json", method="GET", status="200")
    before = value(scrape(stack, "GATEWAY"), "picopt_http_requests_total", **route)
    for _ in range(20):
        assert requests.get(stack.gateway_url() + "/v1/openapi.json", timeout=10).ok
    after = value(scrape(stack, "GATEWAY"), "picopt_http_requests_total", **route)
    assert after - before == 20
    # Ids never become labels: routes are templates.
    job_id = secrets.token_hex(16)
    assert requests.get(f"{stack.gateway_url()}/v1/jobs/{job_id}", timeout=10).status_code == 401
    samples = scrape(stack, "GATEWAY")
    routes = {dict(labels).get("route", "") for _name, labels in samples}
    assert "/v1/jobs/<job_id>" in routes
    assert not any(job_id in route for route in routes)
    # The public port does not serve metrics when a metrics port is set.
    assert requests.get(stack.gateway_url() + "/metrics", timeout=5).status_code == 404


def test_a_service_with_mtls_serves_only_clients_with_a_ca_signed_certificate(
    stack: Stack, tmp_path: Path
) -> None:
    """Vision as a real process with GRPC_TLS_* set (on a private vhost, so it takes no work
    from the stack): refused without a certificate, served with one; probes use the plaintext
    health port."""
    ca = TestCA(tmp_path / "pki")
    port, health_port = free_port(), free_port()
    with fresh_vhost(f"picopt_tls_{secrets.token_hex(5)}") as amqp_url:
        env = {
            **stack.env,
            **ca.env(ca.issue("vision")),
            "AMQP_URL": amqp_url,
            "VISION_GRPC_PORT": str(port),
            "GRPC_HEALTH_PORT": str(health_port),
            "VISION_METRICS_PORT": "0",
            "VAR_DIR": str(tmp_path / "var"),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.vision"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with grpc.insecure_channel(f"127.0.0.1:{health_port}") as probe:
                wait_for(lambda: health(probe) == "SERVING", what="plaintext health port")
            client = ca.issue("gateway")
            good = grpc.ssl_channel_credentials(
                root_certificates=ca.ca_path.read_bytes(),
                private_key=client.key.read_bytes(),
                certificate_chain=client.cert.read_bytes(),
            )
            no_cert = grpc.ssl_channel_credentials(root_certificates=ca.ca_path.read_bytes())
            address = f"127.0.0.1:{port}"
            with grpc.secure_channel(address, good) as channel:
                assert health(channel) == "SERVING"
            with grpc.secure_channel(address, no_cert) as channel:
                assert health(channel) == "UNAVAILABLE"
            with grpc.insecure_channel(address) as channel:
                assert health(channel) == "UNAVAILABLE"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def health(channel: grpc.Channel) -> str:
    """The served status, or the status code the call failed with."""
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=3
        )
    except grpc.RpcError as err:
        return str(err.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
