"""Dead-letter queues against the real broker: TTLs, migration of old queues, the staff
tools (inspect, show, replay, purge) and erasure."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pika
import pytest
import sqlalchemy as sa

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database, OutboxRow
from picopt.kernel.messaging import (
    DeadLetterPolicy,
    DeadLetterQueues,
    HandlerContext,
    Outbox,
    PermanentError,
    Subscription,
    new_envelope,
)
from picopt.kernel.messaging.topology import quorum_args
from picopt.kernel.privacy import PrivacyParticipant
from picopt.kernel.tests.bus import AMQP_URL, JOB, REPO_ROOT, Bus, job, running, wait_for

ANALYZED = "job.analyzed"


def dead(bus: Bus) -> DeadLetterQueues:
    return DeadLetterQueues(AMQP_URL, services=[bus.service], busy_timeout_s=5)


def refuse_first(seen: list[str]) -> Subscription:
    """A handler that refuses each event the first time it sees it, then handles it."""

    def handler(ctx: HandlerContext) -> None:
        if ctx.envelope.event_id not in seen:
            seen.append(ctx.envelope.event_id)
            raise PermanentError("refused once")
        seen.append(f"handled:{ctx.payload.job_id}")

    return Subscription(JOB, events_pb2.JobSubmitted, handler)


def test_inspect_then_replay_and_the_event_is_handled(bus: Bus) -> None:
    seen: list[str] = []
    consumer = bus.consumer([refuse_first(seen)])
    dlq = f"{consumer.queues[0]}.dlq"
    first, second = job("j-first"), job("j-second")
    with running(consumer):
        publisher = bus.publisher()
        publisher.publish(first)
        publisher.publish(second)
        publisher.close()
        wait_for(lambda: bus.count(dlq) == 2, what="both dead-lettered")
        letters = dead(bus)

        assert letters.find() == [dlq]
        (depth,) = letters.depths()
        assert depth.queue == dlq and depth.depth == 2
        assert depth.oldest_age_s is not None and 0 <= depth.oldest_age_s < 60
        listed = letters.messages(dlq)
        assert [m.event_id for m in listed] == [first.event_id, second.event_id]
        assert {(m.event_type, m.attempts, m.reason, m.error) for m in listed} == {
            (JOB, 1, "permanent_error", "PermanentError")
        }
        # Reading changed nothing: the queue keeps both, in order.
        assert [m.event_id for m in letters.messages(dlq)] == [first.event_id, second.event_id]

        shown = letters.show(dlq, first.event_id)
        assert shown is not None
        assert shown.payload["job_id"] == "j-first" and shown.payload["owner_id"] == "o1"
        assert shown.envelope["producer"] == "test"
        assert shown.headers["x-reason"] == "permanent_error"

        replayed = letters.replay(dlq, [first.event_id])
        assert [m.event_id for m in replayed] == [first.event_id]
        wait_for(lambda: "handled:j-first" in seen, what="replayed event handled")
        assert [m.event_id for m in letters.messages(dlq)] == [second.event_id]
        assert [m.event_id for m in letters.replay(dlq)] == [second.event_id]
        wait_for(lambda: "handled:j-second" in seen, what="second replay handled")
    assert bus.count(dlq) == 0
    assert seen.count("handled:j-first") == 1


def test_show_hides_free_text_and_purge_deletes(bus: Bus) -> None:
    consumer = bus.consumer([refuse_first([])])
    consumer.declare()
    dlq = f"{consumer.queues[0]}.dlq"
    envelope = new_envelope(
        JOB,
        events_pb2.JobSubmitted(job_id="j1", owner_id="o1", input_key="uploads/j1"),
        "test",
    )
    envelope.payload = events_pb2.JobSubmitted(
        job_id="j1", owner_id="o1", input_key="uploads/j1", options={"quality": "holiday-at-home"}
    ).SerializeToString()
    other = job("j2")
    for e in (envelope, other):
        bus.channel.basic_publish(
            bus.dlx, consumer.queues[0], e.SerializeToString(), pika.BasicProperties(type=JOB)
        )
    letters = dead(bus)
    wait_for(lambda: bus.count(dlq) == 2, what="two dead letters")
    shown = letters.show(dlq, envelope.event_id)
    assert shown is not None
    assert shown.payload["input_key"] == "uploads/j1"
    assert shown.payload["options"]["quality"].startswith("[redacted")
    assert "holiday" not in json.dumps(shown.as_dict())
    assert [m.event_id for m in letters.purge(dlq, [envelope.event_id])] == [envelope.event_id]
    assert [m.event_id for m in letters.messages(dlq)] == [other.event_id]
    assert len(letters.purge(dlq)) == 1
    assert bus.count(dlq) == 0


def test_dead_letter_queues_expire_and_image_content_sooner(bus: Bus) -> None:
    subs = [
        Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None),
        Subscription(ANALYZED, events_pb2.JobAnalyzed, lambda ctx: None),
    ]
    consumer = bus.consumer(subs, dead_letters=DeadLetterPolicy(ttl_s=60, image_ttl_s=1))
    consumer.declare()
    submitted, analyzed = consumer.queues
    for queue in consumer.queues:
        bus.channel.basic_publish(bus.dlx, queue, b"x")
    wait_for(lambda: bus.count(f"{submitted}.dlq") == 1, what="dead letter parked")
    # The broker drops the image-content dead letter at its TTL, by itself.
    wait_for(lambda: bus.count(f"{analyzed}.dlq") == 0, timeout=10, what="image TTL")
    assert bus.count(f"{submitted}.dlq") == 1


def test_a_pass_drops_what_is_past_its_ttl_wherever_it_sits(bus: Bus) -> None:
    consumer = bus.consumer([refuse_first([])], dead_letters=DeadLetterPolicy(ttl_s=60))
    consumer.declare()
    dlq = f"{consumer.queues[0]}.dlq"
    old = {"x-dead-lettered-at": int(time.time()) - 3600, "x-reason": "permanent_error"}
    bus.channel.basic_publish(
        bus.dlx,
        consumer.queues[0],
        job("old").SerializeToString(),
        pika.BasicProperties(headers=old),
    )
    fresh = job("fresh")
    bus.channel.basic_publish(bus.dlx, consumer.queues[0], fresh.SerializeToString())
    wait_for(lambda: bus.count(dlq) == 2, what="two dead letters")
    letters = DeadLetterQueues(AMQP_URL, services=[bus.service], policy=DeadLetterPolicy(60))
    # The hour-old one is past the 60 s TTL though not at the head when the broker looked.
    assert [m.event_id for m in letters.messages(dlq)] == [fresh.event_id]
    assert bus.count(dlq) == 1


def test_old_queues_are_migrated_in_place_with_scrubbed_headers(bus: Bus) -> None:
    """A deployment of the previous version: a DLQ without TTL holding a dead letter whose
    error header quotes the exception, and the fixed-delay `<queue>.retry` queue (left
    alone: old processes may still use it during a rolling upgrade)."""
    queue = f"{bus.service}.{JOB}"
    bus.queues.add(queue)
    ch = bus.channel
    ch.exchange_declare(bus.dlx, "direct", durable=True)
    ch.queue_declare(f"{queue}.dlq", durable=True, arguments={"x-queue-type": "quorum"})
    ch.queue_bind(f"{queue}.dlq", bus.dlx, queue)
    ch.queue_declare(
        f"{queue}.retry",
        durable=True,
        arguments=quorum_args(
            **{
                "x-message-ttl": 2000,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queue,
            }
        ),
    )
    legacy = job("legacy")
    ch.basic_publish(
        bus.dlx,
        queue,
        legacy.SerializeToString(),
        pika.BasicProperties(
            message_id=legacy.event_id,
            headers={
                "x-error": "IntegrityError: duplicate key (email)=(ada@example.com)",
                "x-queue": queue,
                "x-attempt": 5,
            },
        ),
    )
    wait_for(lambda: bus.count(f"{queue}.dlq") == 1, what="legacy dead letter")

    consumer = bus.consumer([refuse_first([])], dead_letters=DeadLetterPolicy(ttl_s=3))
    consumer.declare()
    consumer.declare()  # idempotent once migrated

    method, props, body = ch.basic_get(f"{queue}.dlq", auto_ack=False)
    assert method is not None and events_pb2.Envelope.FromString(body) == legacy
    assert props.headers["x-error"] == "IntegrityError"
    assert "example.com" not in repr(props.headers)
    ch.basic_nack(method.delivery_tag, requeue=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        bus.channel.queue_declare(f"{queue}.dlq.migrating", passive=True)
    bus.channel = bus.connection.channel()
    # The migrated queue has its TTL now: the old dead letter goes within it.
    wait_for(lambda: bus.count(f"{queue}.dlq") == 0, timeout=10, what="migrated TTL")
    # New dead letters reach the migrated queue.
    bus.channel.basic_publish(bus.dlx, queue, b"new")
    wait_for(lambda: bus.count(f"{queue}.dlq") == 1, what="binding kept")


def erased_counts(db: Database) -> dict[str, int] | None:
    with db.session() as session:
        rows = session.scalars(
            sa.select(OutboxRow.envelope).where(OutboxRow.event_type == "account.erased")
        ).all()
    if not rows:
        return None
    payload = events_pb2.Envelope.FromString(rows[0]).payload
    return dict(events_pb2.AccountErased.FromString(payload).counts)


def test_erasure_removes_the_users_dead_letters(bus: Bus, sqlite_db: Database) -> None:
    user, other, users_job = (str(uuid.uuid4()) for _ in range(3))
    participant = PrivacyParticipant(
        bus.service,
        Outbox(bus.service),
        erase=lambda _s, _uid: {"rows": 1},
        purge=None,
        export=lambda _uid: {},
        dead_letter_ids=lambda _s, _uid: [users_job],
    )
    # The service's other queues (another process of it consumes them).
    bus.consumer(
        [
            Subscription("job.completed", events_pb2.JobCompleted, lambda ctx: None),
            Subscription(ANALYZED, events_pb2.JobAnalyzed, lambda ctx: None),
        ]
    ).declare()
    parked = [
        ("job.completed", events_pb2.JobCompleted(job_id="j", owner_id=user)),
        ("job.completed", events_pb2.JobCompleted(job_id="k", owner_id=other)),
        (ANALYZED, events_pb2.JobAnalyzed(job_id=users_job)),  # names the user's job only
    ]
    for event_type, payload in parked:
        body = new_envelope(event_type, payload, "test").SerializeToString()
        bus.channel.basic_publish(bus.dlx, f"{bus.service}.{event_type}", body)
    completed_dlq, analyzed_dlq = (f"{bus.service}.{t}.dlq" for t in ("job.completed", ANALYZED))
    wait_for(lambda: bus.count(completed_dlq) == 2 and bus.count(analyzed_dlq) == 1)

    consumer = bus.consumer(participant.subscriptions(), db=sqlite_db)
    with running(consumer):
        publisher = bus.publisher()
        erase = events_pb2.AccountErase(user_id=user, request_id="r1")
        publisher.publish(new_envelope("account.erase", erase, "test"))
        publisher.close()
        counts = wait_for(lambda: erased_counts(sqlite_db), what="account.erased recorded")
    assert counts == {"rows": 1, "dead_letters": 2}
    assert bus.count(analyzed_dlq) == 0
    (kept,) = DeadLetterQueues(AMQP_URL, services=[bus.service]).messages(completed_dlq)
    assert kept.event_type == "job.completed"
    assert bus.count(completed_dlq) == 1


def test_staff_command_lists_and_replays(bus: Bus, tmp_path: Path) -> None:
    seen: list[str] = []
    consumer = bus.consumer([refuse_first(seen)])
    dlq = f"{consumer.queues[0]}.dlq"
    envelope = job("cli")

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "picopt.kernel.messaging.dlq", *args],
            cwd=REPO_ROOT,
            env={"AMQP_URL": AMQP_URL, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    with running(consumer):
        publisher = bus.publisher()
        publisher.publish(envelope)
        publisher.close()
        wait_for(lambda: bus.count(dlq) == 1, what="dead-lettered")
        listed = command("--json", "list", dlq)
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)
        assert row["event_id"] == envelope.event_id and row["reason"] == "permanent_error"
        queues = command("queues", "--service", bus.service)
        assert queues.returncode == 0, queues.stderr
        assert dlq in queues.stdout
        replayed = command("replay", dlq, envelope.event_id)
        assert replayed.returncode == 0, replayed.stderr
        wait_for(lambda: "handled:cli" in seen, what="replayed by the command")
        missing = command("show", dlq, "no-such-id")
        assert missing.returncode == 1 and "not found" in missing.stderr
