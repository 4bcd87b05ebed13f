"""Messaging against the real loopback RabbitMQ (and SQLite / PostgreSQL for the outbox and
dedup). Every test uses its own exchanges and queues, deleted afterwards."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database, OutboxRow, ProcessedEvent, utcnow
from picopt.kernel.messaging import (
    HandlerContext,
    Outbox,
    OutboxRelay,
    PermanentError,
    Publisher,
    RetryPolicy,
    Subscription,
    TopologyMismatchError,
    TransientError,
    UnroutableError,
    new_envelope,
)
from picopt.kernel.tests.bus import AMQP_URL, JOB, REPO_ROOT, Bus, job, running, wait_for
from picopt.kernel.tests.demo_models import Widget


def close_broker_side(name_fragment: str) -> None:
    """Drop our own connections from the broker side (never other people's)."""
    listing = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "client_properties", "-q", "--no-table-headers"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pids = [line.split("\t")[0] for line in listing.splitlines() if name_fragment in line]
    assert pids, f"no connection named like {name_fragment}"
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "close_connection", pid, "test"], check=True, capture_output=True
        )


def test_publisher_sets_properties_and_refuses_unroutable(bus: Bus) -> None:
    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)])
    consumer.declare()
    publisher = bus.publisher()
    try:
        envelope = job("j1")
        publisher.publish(envelope)
        ((props, body),) = bus.drain(consumer.queues[0], 1)
        assert props.message_id == envelope.event_id
        assert props.content_type == "application/x-protobuf"
        assert props.delivery_mode == 2
        assert events_pb2.Envelope.FromString(body) == envelope
        with pytest.raises(UnroutableError):
            publisher.publish(new_envelope("nobody.listens", events_pb2.AccountCreated(), "test"))
    finally:
        publisher.close()


def test_publisher_reconnects_once_after_dropped_connection(bus: Bus) -> None:
    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)])
    consumer.declare()
    publisher = Publisher(AMQP_URL, bus.exchange, connection_name=f"picopt-pub {bus.exchange}")
    try:
        publisher.publish(job("before"))
        close_broker_side(f"picopt-pub {bus.exchange}")
        publisher.publish(job("after"))
    finally:
        publisher.close()
    got = [events_pb2.Envelope.FromString(body) for _, body in bus.drain(consumer.queues[0], 2)]
    jobs = [events_pb2.JobSubmitted.FromString(e.payload).job_id for e in got]
    assert jobs == ["before", "after"]


def test_roundtrip(bus: Bus) -> None:
    seen: list[HandlerContext] = []
    done = threading.Event()

    def handler(ctx: HandlerContext) -> None:
        seen.append(ctx)
        done.set()

    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, handler)])
    publisher = bus.publisher()
    with running(consumer):
        envelope = job("j-roundtrip")
        publisher.publish(envelope)
        assert done.wait(15)
    publisher.close()
    (ctx,) = seen
    assert ctx.envelope.event_id == envelope.event_id
    assert ctx.envelope.producer == "test"
    assert ctx.payload.job_id == "j-roundtrip"
    assert ctx.session is None
    assert ctx.attempt == 1
    assert bus.count(consumer.queues[0]) == 0


def test_duplicate_delivery_has_one_effect(bus: Bus, pg_db: Database) -> None:
    handled: list[str] = []

    def handler(ctx: HandlerContext) -> None:
        assert ctx.session is not None
        ctx.session.add(Widget(name=ctx.payload.job_id))
        handled.append(ctx.payload.job_id)

    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, handler)], db=pg_db)
    publisher = bus.publisher()
    dup, last = job("dup"), job("last")
    with running(consumer):
        for envelope in (dup, dup, last):
            publisher.publish(envelope)
        # One consumer, prefetch 1, FIFO queue: "last" is handled after both copies of "dup".
        wait_for(lambda: "last" in handled, what="last handled")
    publisher.close()
    assert handled == ["dup", "last"]
    with pg_db.session() as session:
        assert session.scalars(sa.select(Widget.name).order_by(Widget.id)).all() == ["dup", "last"]
        assert session.scalar(sa.select(sa.func.count()).select_from(ProcessedEvent)) == 2


def test_failure_is_retried_with_delay_then_succeeds(bus: Bus, sqlite_db: Database) -> None:
    attempts: list[tuple[int, float]] = []
    done = threading.Event()

    def handler(ctx: HandlerContext) -> None:
        assert ctx.session is not None
        attempts.append((ctx.attempt, time.monotonic()))
        ctx.session.add(Widget(name=f"attempt-{ctx.attempt}"))
        if ctx.attempt < 3:
            raise RuntimeError("transient")
        done.set()

    consumer = bus.consumer(
        [Subscription(JOB, events_pb2.JobSubmitted, handler)],
        db=sqlite_db,
        retry=RetryPolicy(base_s=0.3, max_delay_s=2.4),
    )
    with running(consumer):
        publisher = bus.publisher()
        publisher.publish(job("flaky"))
        publisher.close()
        assert done.wait(15)
    assert [a for a, _ in attempts] == [1, 2, 3]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(attempts)]
    # Exponential with jitter: the n-th wait lies in the upper half of 0.3 s * 2^n.
    assert gaps[0] >= 0.14 and gaps[1] >= 0.29, gaps
    with sqlite_db.session() as session:
        # The failed attempts' writes were rolled back.
        assert session.scalars(sa.select(Widget.name)).all() == ["attempt-3"]
    queue = consumer.queues[0]
    assert bus.count(queue) == bus.delayed() == bus.count(f"{queue}.dlq") == 0


def test_always_failing_goes_to_dlq_after_max_attempts(bus: Bus) -> None:
    calls: list[int] = []

    def handler(ctx: HandlerContext) -> None:
        calls.append(ctx.attempt)
        raise RuntimeError("always broken")

    consumer = bus.consumer(
        [Subscription(JOB, events_pb2.JobSubmitted, handler)],
        retry=RetryPolicy(base_s=0.05, max_delay_s=0.4, max_attempts=3),
    )
    envelope = job("poison")
    with running(consumer):
        publisher = bus.publisher()
        publisher.publish(envelope)
        publisher.close()
        ((props, body),) = bus.drain(f"{consumer.queues[0]}.dlq", 1)
    assert calls == [1, 2, 3]
    assert events_pb2.Envelope.FromString(body).event_id == envelope.event_id
    assert props.headers["x-attempt"] == 3
    assert props.headers["x-queue"] == consumer.queues[0]
    assert props.headers["x-reason"] == "max_attempts_exceeded"
    # The exception's class only: its message could quote personal data.
    assert props.headers["x-error"] == "RuntimeError"
    assert "always broken" not in repr(props.headers)
    assert props.message_id == envelope.event_id


def test_a_transient_failure_past_its_window_is_dead_lettered(bus: Bus) -> None:
    calls: list[int] = []

    def handler(ctx: HandlerContext) -> None:
        calls.append(ctx.attempt)
        raise TransientError("provider busy")

    # A window of several retry delays: with 1 s, a loaded machine (the engine's tests on both
    # cores) delivered the message only twice before it closed.
    policy = RetryPolicy(base_s=0.05, max_delay_s=0.2, max_attempts=2, transient_for_s=2.5)
    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, handler)], retry=policy)
    with running(consumer):
        publisher = bus.publisher()
        publisher.publish(job("busy"))
        publisher.close()
        ((props, _body),) = bus.drain(f"{consumer.queues[0]}.dlq", 1)
    # Tried well past max_attempts, each time as attempt 1, until the window closed.
    assert len(calls) > policy.max_attempts and set(calls) == {1}
    assert props.headers["x-reason"] == "transient_for_too_long"
    assert props.headers["x-error"] == "TransientError"
    assert props.headers["x-retries"] == len(calls) - 1


def test_permanent_error_dead_letters_at_once(bus: Bus, sqlite_db: Database) -> None:
    calls: list[int] = []

    def handler(ctx: HandlerContext) -> None:
        calls.append(ctx.attempt)
        raise PermanentError("unsupported format")

    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, handler)], db=sqlite_db)
    with running(consumer):
        publisher = bus.publisher()
        publisher.publish(job("bad-input"))
        publisher.close()
        ((props, _body),) = bus.drain(f"{consumer.queues[0]}.dlq", 1)
    assert calls == [1]
    assert props.headers["x-attempt"] == 1
    assert props.headers["x-reason"] == "permanent_error"
    assert props.headers["x-error"] == "PermanentError"
    assert "unsupported format" not in repr(props.headers)
    with sqlite_db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ProcessedEvent)) == 0


def test_malformed_messages_go_to_dlq_and_consumer_keeps_serving(bus: Bus) -> None:
    handled: list[str] = []
    done = threading.Event()

    def handler(ctx: HandlerContext) -> None:
        handled.append(ctx.payload.job_id)
        done.set()

    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, handler)])
    no_id = job("x")
    no_id.event_id = ""
    wrong_type = job("x")
    wrong_type.type = "job.completed"
    bad_payload = job("x")
    bad_payload.payload = b"\xff"
    malformed = {
        b"not a protobuf \xff": "malformed_envelope",
        no_id.SerializeToString(): "missing_event_id",
        wrong_type.SerializeToString(): "type_mismatch",
        bad_payload.SerializeToString(): "malformed_payload",
    }
    with running(consumer):
        for body in malformed:
            bus.publish_raw(body)
        publisher = bus.publisher()
        publisher.publish(job("good"))
        publisher.close()
        assert done.wait(15)
        dead = bus.drain(f"{consumer.queues[0]}.dlq", len(malformed))
    assert handled == ["good"]
    assert {body: props.headers["x-reason"] for props, body in dead} == malformed


def test_outbox_publishes_committed_rows_exactly_once(bus: Bus, pg_db: Database) -> None:
    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)])
    consumer.declare()
    outbox = Outbox("gateway")
    rolled_back = ""
    with pytest.raises(RuntimeError), pg_db.session() as session:
        rolled_back = outbox.add(session, JOB, events_pb2.JobSubmitted(job_id="never"))
        raise RuntimeError("business rule failed")
    with pg_db.session() as session:
        first = outbox.add(session, JOB, events_pb2.JobSubmitted(job_id="a"), traceparent="00-t")
        second = outbox.add(session, JOB, events_pb2.JobSubmitted(job_id="b"))
    relay = OutboxRelay(pg_db, AMQP_URL, exchange=bus.exchange)
    try:
        assert relay.run_once() == 2
        assert relay.run_once() == 0
    finally:
        relay.stop()
    got = [events_pb2.Envelope.FromString(body) for _, body in bus.drain(consumer.queues[0], 2)]
    assert [e.event_id for e in got] == [first, second]
    assert rolled_back not in {e.event_id for e in got}
    assert got[0].producer == "gateway"
    assert got[0].traceparent == "00-t"
    assert events_pb2.JobSubmitted.FromString(got[1].payload).job_id == "b"
    assert bus.count(consumer.queues[0]) == 0
    with pg_db.session() as session:
        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(OutboxRow)
                .where(OutboxRow.published_at.is_(None))
            )
            == 0
        )


def test_relay_survives_dropped_connection(bus: Bus, sqlite_db: Database) -> None:
    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)])
    consumer.declare()
    outbox = Outbox("gateway")
    relay = OutboxRelay(sqlite_db, AMQP_URL, exchange=bus.exchange, poll_interval=0.05)
    relay.start()
    try:
        with sqlite_db.session() as session:
            before = outbox.add(session, JOB, events_pb2.JobSubmitted(job_id="before"))
        ((_, body),) = bus.drain(consumer.queues[0], 1)
        assert events_pb2.Envelope.FromString(body).event_id == before
        close_broker_side(f"picopt-relay-loop {bus.exchange}")
        with sqlite_db.session() as session:
            after = outbox.add(session, JOB, events_pb2.JobSubmitted(job_id="after"))
        ((_, body),) = bus.drain(consumer.queues[0], 1, timeout=30)
        assert events_pb2.Envelope.FromString(body).event_id == after
    finally:
        relay.stop()


def test_a_commit_wakes_the_relay_and_a_rollback_publishes_nothing(
    bus: Bus, sqlite_db: Database
) -> None:
    """The event leaves when its transaction commits, not at the relay's next poll (an hour
    away here); a transaction that rolled back stages nothing."""
    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)])
    consumer.declare()
    outbox = Outbox("gateway")
    relay = OutboxRelay(sqlite_db, AMQP_URL, exchange=bus.exchange, poll_interval=3600)
    relay.start()
    try:
        for name in ("first", "second"):
            # Once the first is out, the relay waits for its poll: only a wake-up sends the
            # second.
            with pytest.raises(RuntimeError), sqlite_db.session() as session:
                outbox.add(session, JOB, events_pb2.JobSubmitted(job_id="never"))
                raise RuntimeError("business rule failed")
            with sqlite_db.session() as session:
                committed = outbox.add(session, JOB, events_pb2.JobSubmitted(job_id=name))
            ((_, body),) = bus.drain(consumer.queues[0], 1, timeout=20)
            assert events_pb2.Envelope.FromString(body).event_id == committed
    finally:
        relay.stop()
    assert bus.count(consumer.queues[0]) == 0


def test_the_relay_polls_for_rows_no_commit_of_its_process_announced(
    bus: Bus, sqlite_db: Database
) -> None:
    """Rows another process wrote (a staff command, a second worker) wake no relay here: the
    poll still publishes them."""
    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)])
    consumer.declare()
    relay = OutboxRelay(sqlite_db, AMQP_URL, exchange=bus.exchange, poll_interval=0.2)
    relay.start()
    try:
        envelope = new_envelope(JOB, events_pb2.JobSubmitted(job_id="elsewhere"), "other")
        with sqlite_db.session() as session:
            session.add(
                OutboxRow(
                    event_id=envelope.event_id,
                    event_type=JOB,
                    envelope=envelope.SerializeToString(),
                    created_at=utcnow(),
                )
            )
        ((_, body),) = bus.drain(consumer.queues[0], 1)
        assert events_pb2.Envelope.FromString(body).event_id == envelope.event_id
    finally:
        relay.stop()


def test_consumer_reconnects_after_dropped_connection(bus: Bus) -> None:
    handled: list[str] = []
    consumer = bus.consumer(
        [Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: handled.append(ctx.payload.job_id))]
    )
    publisher = bus.publisher()
    with running(consumer):
        publisher.publish(job("one"))
        wait_for(lambda: handled == ["one"])
        close_broker_side(f"picopt-consumer {bus.service} ")
        publisher.publish(job("two"))
        wait_for(lambda: handled == ["one", "two"], timeout=30)
    publisher.close()


def test_long_handler_keeps_connection_alive(bus: Bus) -> None:
    handled: list[str] = []

    def handler(ctx: HandlerContext) -> None:
        if ctx.payload.job_id == "slow":
            time.sleep(3.5)  # several heartbeat intervals with heartbeat=1
        handled.append(ctx.payload.job_id)

    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, handler)], heartbeat=1)
    publisher = bus.publisher()
    with running(consumer):
        publisher.publish(job("slow"))
        publisher.publish(job("next"))
        wait_for(lambda: handled == ["slow", "next"], timeout=20)
    publisher.close()
    # A connection killed by missed heartbeats would have redelivered "slow" (handled twice).
    assert handled == ["slow", "next"]


def test_graceful_stop_acks_in_flight_message(bus: Bus, sqlite_db: Database) -> None:
    entered, release = threading.Event(), threading.Event()

    def handler(ctx: HandlerContext) -> None:
        entered.set()
        assert release.wait(15)

    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, handler)], db=sqlite_db)
    consumer.declare()
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    publisher = bus.publisher()
    publisher.publish(job("in-flight"))
    publisher.close()
    assert entered.wait(15)
    consumer.stop()
    assert thread.is_alive()
    release.set()
    thread.join(15)
    assert not thread.is_alive()
    assert bus.count(consumer.queues[0]) == 0  # acked, not requeued by the close
    with sqlite_db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ProcessedEvent)) == 1


def _spawn_consumer(
    bus: Bus, markers: Path, mode: str, delivery_limit: int = 10
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "picopt.kernel.tests.consumer_proc",
            AMQP_URL,
            bus.service,
            bus.exchange,
            bus.dlx,
            str(markers),
            mode,
            str(delivery_limit),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_sigkilled_consumer_message_goes_to_another(bus: Bus, tmp_path: Path) -> None:
    handled: list[str] = []
    done = threading.Event()

    def handler(ctx: HandlerContext) -> None:
        handled.append(ctx.envelope.event_id)
        done.set()

    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, handler)])
    consumer.declare()
    proc = _spawn_consumer(bus, tmp_path, "block")
    try:
        envelope = job("orphan")
        publisher = bus.publisher()
        publisher.publish(envelope)
        publisher.close()
        wait_for((tmp_path / f"started-{envelope.event_id}").exists, what="subprocess started")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with running(consumer):
        assert done.wait(15)
    assert handled == [envelope.event_id]


def test_sigterm_finishes_in_flight_message(bus: Bus, tmp_path: Path) -> None:
    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)])
    consumer.declare()
    proc = _spawn_consumer(bus, tmp_path, "slow")
    try:
        envelope = job("slow")
        publisher = bus.publisher()
        publisher.publish(envelope)
        publisher.close()
        wait_for((tmp_path / f"started-{envelope.event_id}").exists, what="subprocess started")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / f"done-{envelope.event_id}").exists()
    assert bus.count(consumer.queues[0]) == 0


def test_poison_message_that_kills_consumers_ends_in_dlq(bus: Bus, tmp_path: Path) -> None:
    consumer = bus.consumer(
        [Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)], delivery_limit=1
    )
    consumer.declare()
    envelope = job("segfault")
    publisher = bus.publisher()
    publisher.publish(envelope)
    publisher.close()
    dlq = f"{consumer.queues[0]}.dlq"
    crashes = 0
    # Delivery limit 1: the first redelivery is allowed, the next one dead-letters.
    while bus.count(dlq) == 0:
        assert crashes < 4, "poison message never reached the DLQ"
        proc = _spawn_consumer(bus, tmp_path, "crash", delivery_limit=1)
        try:
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 70, err.decode()
        crashes += 1
        wait_for(lambda: bus.count(dlq) or bus.count(consumer.queues[0]), what="message requeued")
    assert crashes == 2
    ((_, body),) = bus.drain(dlq, 1)
    assert events_pb2.Envelope.FromString(body).event_id == envelope.event_id


def test_relay_holds_unroutable_rows_without_blocking_others(bus: Bus, sqlite_db: Database) -> None:
    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)])
    consumer.declare()
    outbox = Outbox("gateway")
    with sqlite_db.session() as session:
        orphan = outbox.add(session, "nobody.listens", events_pb2.AccountCreated(user_id="u"))
        routed = outbox.add(session, JOB, events_pb2.JobSubmitted(job_id="a"))
    relay = OutboxRelay(sqlite_db, AMQP_URL, exchange=bus.exchange, unroutable_retry=60)
    try:
        assert relay.run_once() == 1
        assert relay.run_once() == 0
    finally:
        relay.stop()
    ((_, body),) = bus.drain(consumer.queues[0], 1)
    assert events_pb2.Envelope.FromString(body).event_id == routed
    with sqlite_db.session() as session:
        pending = session.scalars(
            sa.select(OutboxRow.event_id).where(OutboxRow.published_at.is_(None))
        ).all()
    assert pending == [orphan]


def test_concurrent_relays_publish_each_row_once(bus: Bus, pg_db: Database) -> None:
    consumer = bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)])
    consumer.declare()
    outbox = Outbox("gateway")
    with pg_db.session() as session:
        ids = {outbox.add(session, JOB, events_pb2.JobSubmitted(job_id=str(i))) for i in range(60)}
    relays = [OutboxRelay(pg_db, AMQP_URL, exchange=bus.exchange, batch_size=7) for _ in range(2)]
    counts = [0, 0]

    def drain(i: int) -> None:
        while True:
            published = relays[i].run_once()
            if not published:
                return
            counts[i] += published

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for relay in relays:
        relay.stop()
    got = [events_pb2.Envelope.FromString(b).event_id for _, b in bus.drain(consumer.queues[0], 60)]
    assert sum(counts) == 60
    assert sorted(got) == sorted(ids)
    assert bus.count(consumer.queues[0]) == 0


def test_concurrent_duplicates_on_two_consumers_have_one_effect(bus: Bus, pg_db: Database) -> None:
    calls: list[str] = []

    def handler(ctx: HandlerContext) -> None:
        assert ctx.session is not None
        calls.append(ctx.envelope.event_id)
        ctx.session.add(Widget(name=ctx.payload.job_id))
        ctx.session.flush()
        time.sleep(0.3)  # keep the transaction open while the other copy arrives

    subs = [Subscription(JOB, events_pb2.JobSubmitted, handler)]
    first, second = bus.consumer(subs, db=pg_db), bus.consumer(subs, db=pg_db)
    envelope = job("twice")
    publisher = bus.publisher()
    with running(first), running(second):
        publisher.publish(envelope)
        publisher.publish(envelope)

        def both_settled() -> bool:
            queue = first.queues[0]
            with pg_db.session() as session:
                done = session.scalar(sa.select(sa.func.count()).select_from(ProcessedEvent))
            return done == 1 and bus.count(queue) == 0 and bus.delayed() == 0

        wait_for(both_settled, what="both copies settled")
    publisher.close()
    assert calls == [envelope.event_id]
    with pg_db.session() as session:
        assert session.scalars(sa.select(Widget.name)).all() == ["twice"]


def test_conflicting_queue_arguments_fail_loudly(bus: Bus) -> None:
    subs = [Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)]
    bus.consumer(subs, delivery_limit=10).declare()
    conflicting = bus.consumer(subs, delivery_limit=3)
    with pytest.raises(TopologyMismatchError):
        conflicting.run()


def test_prepare_runs_outside_the_transaction_and_is_skipped_for_duplicates(
    bus: Bus, sqlite_db: Database
) -> None:
    prepared: list[str] = []
    recorded: list[tuple[str, str]] = []

    def prepare(ctx: HandlerContext) -> str:
        assert ctx.session is None
        # No write lock is held: another writer gets through at once (SQLite would block).
        with sqlite_db.session() as session:
            session.add(Widget(name=f"side-{ctx.payload.job_id}"))
        prepared.append(ctx.payload.job_id)
        return f"made-{ctx.payload.job_id}"

    def handler(ctx: HandlerContext) -> None:
        assert ctx.session is not None
        ctx.session.add(Widget(name=ctx.prepared))
        recorded.append((ctx.payload.job_id, ctx.prepared))

    consumer = bus.consumer(
        [Subscription(JOB, events_pb2.JobSubmitted, handler, prepare=prepare)], db=sqlite_db
    )
    publisher = bus.publisher()
    dup, last = job("dup"), job("last")
    with running(consumer):
        for envelope in (dup, dup, last):
            publisher.publish(envelope)
        wait_for(lambda: len(recorded) == 2, what="both events recorded")
    publisher.close()
    assert prepared == ["dup", "last"]
    assert recorded == [("dup", "made-dup"), ("last", "made-last")]
