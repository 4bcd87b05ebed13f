"""Faults we can provoke: duplicates, a killed worker, poison messages, a backend down."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import grpc
import pika
import psycopg
import pytest
import requests

from picopt.billing.v1 import billing_pb2, billing_pb2_grpc
from picopt.client import ApiError, Client
from picopt.devstack import Stack
from picopt.events.v1 import events_pb2
from picopt.kernel.messaging import DeadLetterQueues, dead_letter_depths, new_envelope
from tests.integration.conftest import blob_dir, wait_for
from tests.integration.images import graphic_png, large_photo, skimage_photo

pytestmark = pytest.mark.integration

EXCHANGE = "picopt.events"
T = TypeVar("T")


def ledger_kinds(stack: Stack, client: Client, job_id: str) -> list[str]:
    user_id = client.account()["id"]
    with grpc.insecure_channel(stack.grpc_address("billing")) as channel:
        stub = billing_pb2_grpc.BillingServiceStub(channel)
        reply = stub.ListLedger(billing_pb2.ListLedgerRequest(user_id=user_id), timeout=5)
    return sorted(e.kind for e in reply.entries if e.job_id == job_id)


def settled_ledger(stack: Stack, client: Client, job_id: str) -> list[str]:
    """The job's ledger kinds once billing has captured: "done" is visible to the user
    before job.completed has travelled outbox -> broker -> billing, so wait for the capture,
    then give a duplicate capture the time to show up."""
    wait_for(lambda: "capture" in ledger_kinds(stack, client, job_id), what="billing to capture")
    time.sleep(1.0)
    return ledger_kinds(stack, client, job_id)


def sql(stack: Stack, query: str, *params: object) -> list[tuple[object, ...]]:
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        return list(conn.execute(query, params).fetchall())


def publish_raw(stack: Stack, routing_key: str, body: bytes, message_id: str = "") -> None:
    connection = pika.BlockingConnection(pika.URLParameters(stack.env["AMQP_URL"]))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            EXCHANGE,
            routing_key,
            body,
            pika.BasicProperties(delivery_mode=2, message_id=message_id or None),
            mandatory=True,
        )
    finally:
        connection.close()


def queue_depth(stack: Stack, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(stack.env["AMQP_URL"]))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def result_files(stack: Stack, job_id: str) -> list[Path]:
    return sorted((blob_dir(stack) / "results" / job_id).glob("*"))


def test_duplicate_submission_events_produce_one_result_and_one_capture(
    stack: Stack, user: Client
) -> None:
    job = user.submit(skimage_photo("coffee.png"), format="jpeg", metadata=False)
    done = user.wait(job["id"])
    assert done["status"] == "done", done["error"]
    (envelope_bytes,) = sql(
        stack,
        "SELECT envelope FROM processor.outbox WHERE event_type = 'job.submitted' "
        "AND envelope LIKE %s",
        b"%" + job["id"].encode() + b"%",
    )[0]
    original = events_pb2.Envelope.FromString(bytes(envelope_bytes))
    # The same event delivered again (dropped by event id) ...
    publish_raw(stack, "job.submitted", original.SerializeToString(), original.event_id)
    # ... and the same job announced under a new event id (dropped by job state).
    again = new_envelope(
        "job.submitted", events_pb2.JobSubmitted.FromString(original.payload), "test"
    )
    publish_raw(stack, "job.submitted", again.SerializeToString(), again.event_id)

    wait_for(
        lambda: sql(
            stack, "SELECT 1 FROM processor.processed_events WHERE event_id = %s", again.event_id
        ),
        what="second delivery handled",
    )
    wait_for(lambda: queue_depth(stack, "processor.job.submitted") == 0, what="queue drained")
    assert user.job(job["id"])["status"] == "done"
    assert len(result_files(stack, job["id"])) == 1
    assert settled_ledger(stack, user, job["id"]) == ["capture", "reserve"]
    (processed,) = sql(
        stack,
        "SELECT count(*) FROM processor.processed_events WHERE event_id = %s",
        original.event_id,
    )[0]
    assert processed == 1


def test_a_worker_killed_mid_job_is_restarted_by_the_supervisor_and_every_job_finishes(
    stack: Stack, user: Client
) -> None:
    stack.kill("worker.2", signal.SIGTERM)  # one worker takes the job ...
    try:
        job = user.submit(
            large_photo(), filename="dog.jpg", format="webp", width=2048, metadata=False
        )
        wait_for(
            lambda: user.job(job["id"])["status"] == "processing",
            interval=0.05,
            what="worker to claim the job",
        )
        killed = stack.processes["worker.1"].popen
        assert killed is not None
        os.killpg(killed.pid, signal.SIGKILL)  # ... and dies in the middle of it, as OOM kills do.
        killed.wait(timeout=30)
        # Accepted meanwhile: it waits in the queue.
        waiting = user.submit(graphic_png(), metadata=False)
        assert user.job(job["id"])["status"] == "processing"
        # The supervisor starts worker.1 again by itself; nothing else does.
        wait_for(lambda: stack.processes["worker.1"].popen is not killed, what="a restart")
        assert ("worker.1", -signal.SIGKILL) in stack.exits
        for accepted in (job, waiting):
            done = user.wait(accepted["id"], timeout=180)
            assert done["status"] == "done", done["error"]
            assert settled_ledger(stack, user, accepted["id"]) == ["capture", "reserve"]
            assert len(result_files(stack, accepted["id"])) == 1
        (attempts,) = sql(stack, "SELECT attempts FROM processor.jobs WHERE id = %s", job["id"])[0]
        assert attempts == 2
    finally:
        stack.restart("worker.2")


def test_malformed_message_is_dead_lettered_and_the_worker_keeps_serving(
    stack: Stack, user: Client
) -> None:
    dlq = "processor.job.submitted.dlq"
    before = queue_depth(stack, dlq)
    publish_raw(stack, "job.submitted", b"\x00 this is not an envelope", "poison-1")
    wait_for(lambda: queue_depth(stack, dlq) == before + 1, what="poison message in the DLQ")
    job = user.submit(graphic_png(), metadata=False)
    assert user.wait(job["id"], timeout=60)["status"] == "done"
    # The compliance report sees it among every service's DLQs, with its age ...
    depths = {d.queue: d for d in dead_letter_depths(stack.env["AMQP_URL"])}
    assert depths[dlq].depth == before + 1 and depths[dlq].oldest_age_s is not None
    # ... and staff see why and delete it.
    letters = DeadLetterQueues(stack.env["AMQP_URL"])
    (poison,) = [m for m in letters.messages(dlq) if m.event_id == "poison-1"]
    assert poison.reason == "malformed_envelope" and poison.age_s is not None
    assert [m.event_id for m in letters.purge(dlq, ["poison-1"])] == ["poison-1"]
    assert queue_depth(stack, dlq) == before


@pytest.mark.parametrize("backend", ["processor", "billing"])
def test_backend_down_answers_503_and_loses_nothing(
    stack: Stack, user: Client, backend: str
) -> None:
    uploads = blob_dir(stack) / "uploads"
    before_uploads = set(uploads.glob("*")) if uploads.exists() else set()
    before = user.balance()
    assert readyz(stack) == (200, "ok")
    stack.kill(backend, signal.SIGTERM)
    try:
        with pytest.raises(ApiError) as err:
            user.submit(graphic_png(), metadata=False)
        assert err.value.status == 503
        assert err.value.problem["type"].endswith("service-unavailable")
        assert err.value.problem["request_id"]
        # The gateway's readiness names the backend it cannot reach.
        not_ready = wait_for(lambda: readyz(stack, backend)[0] == 503, what="gateway not ready")
        assert not_ready and readyz(stack, backend) == (503, "UNAVAILABLE")
    finally:
        stack.restart(backend)
        stack.wait_healthy(timeout=60, services=(backend,))
    wait_for(lambda: readyz(stack) == (200, "ok"), what="gateway ready again")
    after_uploads = set(uploads.glob("*")) if uploads.exists() else set()
    assert after_uploads <= before_uploads, "no upload may be left behind"
    # The gateway reconnects by itself within seconds.
    balance = wait_for(lambda: _unless_503(user.balance), timeout=20, what="billing reachable")
    assert balance == before, "no credit may be lost"
    job = wait_for(
        lambda: _unless_503(lambda: user.submit(graphic_png(), metadata=False)),
        timeout=20,
        what="submissions to work again",
    )
    assert user.wait(job["id"], timeout=60)["status"] == "done"


def test_a_vision_outage_keeps_the_gateway_ready_and_the_privacy_facts_served(
    stack: Stack,
) -> None:
    """Vision frozen (a hung pod): the gateway only asks it for the AI providers it
    remembers, so it stays ready (it used to answer 503 and leave the Service)."""
    privacy = stack.gateway_url() + "/v1/privacy"
    assert requests.get(privacy, timeout=10).ok
    vision = stack.processes["vision"].popen
    assert vision is not None
    os.killpg(vision.pid, signal.SIGSTOP)
    try:
        deadline = (
            time.monotonic() + 3
        )  # several verdicts (each cached 1 s, checks time out in 1 s)
        while time.monotonic() < deadline:
            reply = requests.get(stack.gateway_url() + "/readyz", timeout=5)
            assert reply.status_code == 200, reply.text
            assert "vision" not in reply.json()["checks"]
            time.sleep(0.3)
        assert requests.get(privacy, timeout=10).json()["default_ai_provider"]
    finally:
        os.killpg(vision.pid, signal.SIGCONT)


def readyz(stack: Stack, backend: str = "processor") -> tuple[int, str]:
    """The gateway's /readyz status code and what it says of one backend."""
    reply = requests.get(stack.gateway_url() + "/readyz", timeout=5)
    return reply.status_code, reply.json()["checks"][backend]


def _unless_503(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except ApiError as err:
        if err.status != 503:
            raise
        return None
