"""Every outbox row ends: events nobody subscribes to by design are dropped, unroutable ones
back off, bookkeeping is deleted after its bound and rows never published are reported,
then discarded. Real broker, SQLite."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database, OutboxRow, ProcessedEvent, utcnow
from picopt.kernel.messaging import (
    Outbox,
    OutboxPolicy,
    OutboxRelay,
    Subscription,
    new_envelope,
)
from picopt.kernel.tests.bus import AMQP_URL, JOB, Bus, wait_for


def pending(db: Database) -> list[str]:
    with db.session() as session:
        return list(
            session.scalars(sa.select(OutboxRow.event_type).where(OutboxRow.published_at.is_(None)))
        )


def gauge(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_event_nobody_subscribes_to_by_design_is_published_and_done(
    bus: Bus, sqlite_db: Database
) -> None:
    bus.consumer([Subscription(JOB, events_pb2.JobSubmitted, lambda ctx: None)]).declare()
    outbox = Outbox("auth")
    with sqlite_db.session() as session:
        for _ in range(3):
            outbox.add(session, "account.created", events_pb2.AccountCreated(user_id="u"))
        outbox.add(session, JOB, events_pb2.JobSubmitted(job_id="j"))
    relay = OutboxRelay(sqlite_db, AMQP_URL, exchange=bus.exchange)
    try:
        with capture_logs() as logs:
            assert relay.run_once() == 4
            with sqlite_db.session() as session:
                outbox.add(session, "account.created", events_pb2.AccountCreated(user_id="v"))
            relay.run_once()
            relay.check_pending()
    finally:
        relay.stop()
    assert pending(sqlite_db) == []
    assert gauge("picopt_outbox_pending_events") == 0
    assert not [line for line in logs if line["log_level"] in ("warning", "error")]
    bus.drain(f"{bus.service}.{JOB}", 1)


def test_an_unroutable_event_type_is_retried_with_growing_pauses(
    bus: Bus, sqlite_db: Database
) -> None:
    with sqlite_db.session() as session:
        Outbox("x").add(session, "nobody.listens", events_pb2.AccountCreated(user_id="u"))
    relay = OutboxRelay(sqlite_db, AMQP_URL, exchange=bus.exchange, unroutable_retry=0.2)
    try:
        with capture_logs() as logs:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                relay.run_once()
                time.sleep(0.05)
    finally:
        relay.stop()
    pauses = [line["retry_in"] for line in logs if line["event"] == "outbox_event_unroutable"]
    # Once per pause, not once per poll (40 polls), and each pause twice the last.
    assert pauses[:3] == [0.2, 0.4, 0.8], pauses
    assert len(pauses) <= 4
    assert pending(sqlite_db) == ["nobody.listens"]


def test_bookkeeping_is_deleted_and_rows_never_published_are_reported_then_discarded(
    bus: Bus, sqlite_db: Database
) -> None:
    now = utcnow()
    old, recent, hours = now - timedelta(days=8), now - timedelta(days=1), now - timedelta(hours=2)

    def row(event_type: str, created: object, published: object) -> OutboxRow:
        envelope = new_envelope(event_type, events_pb2.LogsPurged(), "test")
        return OutboxRow(
            event_id=envelope.event_id,
            event_type=event_type,
            envelope=envelope.SerializeToString(),
            created_at=created,
            published_at=published,
        )

    with sqlite_db.session() as session:
        session.add_all(
            [
                row("job.completed", old, old),  # published long ago: deleted
                row("job.completed", recent, recent),  # published yesterday: kept
                row("account.erase", old, None),  # never published for 8 days: discarded
                row("logs.purged", hours, None),  # pending for 2 hours: reported
                ProcessedEvent(queue="q", event_id="old", processed_at=old),
                ProcessedEvent(queue="q", event_id="recent", processed_at=recent),
            ]
        )
    discarded_before = gauge("picopt_outbox_discarded_total", event_type="account.erase")
    relay = OutboxRelay(
        sqlite_db, AMQP_URL, exchange=bus.exchange, policy=OutboxPolicy(), pending_interval=0.1
    )
    with capture_logs() as logs:
        relay.start()
        try:
            wait_for(lambda: "account.erase" not in pending(sqlite_db), what="discard")
            wait_for(
                lambda: any(line["event"] == "outbox_events_stuck" for line in logs),
                what="stuck rows reported",
            )
        finally:
            relay.stop()
    with sqlite_db.session() as session:
        rows = session.execute(sa.select(OutboxRow.event_type, OutboxRow.published_at)).all()
        processed = session.scalars(sa.select(ProcessedEvent.event_id)).all()
    assert sorted(t for t, _ in rows) == ["job.completed", "logs.purged"]
    assert processed == ["recent"]
    (discarded,) = [line for line in logs if line["event"] == "outbox_event_discarded"]
    assert discarded["event_type"] == "account.erase" and discarded["log_level"] == "error"
    assert gauge("picopt_outbox_discarded_total", event_type="account.erase") == (
        discarded_before + 1
    )
    # Reported (once per interval) while pending, with its age, before any discard.
    (stuck,) = [line for line in logs if line["event"] == "outbox_events_stuck"]
    assert stuck["by_type"]["logs.purged"] == 1 and stuck["oldest_s"] >= 7200
    assert gauge("picopt_outbox_oldest_pending_seconds") >= 7200
