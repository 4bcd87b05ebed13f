"""Transactional outbox: events are rows in the producer's transaction, published afterwards.

A commit that staged events wakes the relays of its process, so an event leaves as soon as
its transaction is durable; the relay's poll is only the backstop (rows another process
wrote, a wake-up lost to a crash). Publishing stays the relay's alone: at-least-once from the
committed row, duplicates dropped by the consumers' event ids.

Every row ends: it is published (and deleted `keep` later; an event the catalog marks as
possibly unsubscribed counts as published when no queue is bound), or, if it cannot be
published for `discard_after`, deleted with an error log and a counter. Rows pending longer than
`stuck_after` are logged and measured (`picopt_outbox_oldest_pending_seconds`) well
before that.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import Counter
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from google.protobuf.message import Message
from sqlalchemy.orm import Session

from picopt.events.v1 import events_pb2
from picopt.kernel import metrics
from picopt.kernel.db import Database, OutboxRow, ProcessedEvent, as_utc, utcnow
from picopt.kernel.messaging.connection import Backoff
from picopt.kernel.messaging.envelope import new_envelope
from picopt.kernel.messaging.policy import OutboxPolicy
from picopt.kernel.messaging.publisher import Publisher, PublishError, UnroutableError
from picopt.kernel.messaging.topology import DEFAULT_EXCHANGE

log = structlog.get_logger(__name__)

# An event type with no queue bound is tried again after this, doubling up to the cap.
UNROUTABLE_RETRY_S = 5.0
UNROUTABLE_RETRY_MAX_S = 300.0
# How often a relay looks for rows nobody woke it for (written by another process).
BACKSTOP_POLL_S = 1.0

# The running relays of this process, woken by every commit that staged an event.
_RELAYS: weakref.WeakSet[OutboxRelay] = weakref.WeakSet()


def _wake_relays() -> None:
    for relay in list(_RELAYS):
        relay.wake()


class Outbox:
    """Transactional outbox: the event row is written in the caller's transaction."""

    def __init__(self, producer: str) -> None:
        self.producer = producer

    def add(
        self, session: Session, event_type: str, payload: Message, traceparent: str = ""
    ) -> str:
        """Stage the event; it exists only if the caller's transaction commits, and the commit
        wakes this process's relays."""
        envelope = new_envelope(event_type, payload, self.producer, traceparent)
        session.add(
            OutboxRow(
                event_id=envelope.event_id,
                event_type=event_type,
                envelope=envelope.SerializeToString(),
                created_at=utcnow(),
            )
        )
        metrics.after_commit(session, _wake_relays)
        return envelope.event_id


def delete_kernel_rows(session: Session, older_than: datetime) -> dict[str, int]:
    """Published outbox rows and processed-event ids older than the cutoff."""
    outbox = session.execute(
        sa.delete(OutboxRow).where(
            OutboxRow.published_at.is_not(None), OutboxRow.published_at < older_than
        )
    )
    processed = session.execute(
        sa.delete(ProcessedEvent).where(ProcessedEvent.processed_at < older_than)
    )
    return {
        "outbox": int(outbox.rowcount or 0),  # type: ignore[attr-defined]
        "processed_events": int(processed.rowcount or 0),  # type: ignore[attr-defined]
    }


def discard_unpublished(session: Session, older_than: datetime) -> Counter[str]:
    """Delete rows that could not be published since the cutoff; counts per event type."""
    rows = session.execute(
        sa.select(OutboxRow.id, OutboxRow.event_type, OutboxRow.event_id).where(
            OutboxRow.published_at.is_(None), OutboxRow.created_at < older_than
        )
    ).all()
    for row in rows:
        log.error(
            "outbox_event_discarded",
            event_type=row.event_type,
            event_id=row.event_id,
            reason="unpublished_too_long",
        )
    if rows:
        session.execute(sa.delete(OutboxRow).where(OutboxRow.id.in_([r.id for r in rows])))
    return Counter(r.event_type for r in rows)


def purge_kernel_tables(db: Database, policy: OutboxPolicy | None = None) -> dict[str, int]:
    """The relay's periodic clean-up: bookkeeping past `keep`, rows never published past
    `discard_after` (each one logged and counted)."""
    policy = policy or OutboxPolicy()
    now = utcnow()
    with db.session() as session:
        counts = delete_kernel_rows(session, now - timedelta(seconds=policy.keep_s))
        discarded = discard_unpublished(session, now - timedelta(seconds=policy.discard_after_s))
    for event_type, count in discarded.items():
        metrics.OUTBOX_DISCARDED.labels(event_type).inc(count)
    return {**counts, "outbox_discarded": sum(discarded.values())}


def pending_summary(
    db: Database, older_than: datetime | None = None
) -> tuple[int, float, dict[str, int]]:
    """(pending rows, age in seconds of the oldest, per-type counts of those older than
    `older_than`)."""
    with db.session(readonly=True) as session:
        pending = OutboxRow.published_at.is_(None)
        count, oldest = session.execute(
            sa.select(sa.func.count(), sa.func.min(OutboxRow.created_at)).where(pending)
        ).one()
        stale: dict[str, int] = {}
        if older_than is not None and oldest is not None:
            stale = {
                str(event_type): int(n)
                for event_type, n in session.execute(
                    sa.select(OutboxRow.event_type, sa.func.count())
                    .where(pending, OutboxRow.created_at < older_than)
                    .group_by(OutboxRow.event_type)
                )
            }
    age = 0.0 if oldest is None else max(0.0, (utcnow() - as_utc(oldest)).total_seconds())
    return int(count or 0), age, stale


class OutboxRelay:
    """Publishes committed outbox rows in order and marks them; a crash between publish and
    mark only causes a duplicate, which consumers drop by event id.

    Started, it publishes when a commit of this process wakes it, and every `poll_interval`
    seconds otherwise.

    Rows whose type has no bound queue yet (consumer not started) stay pending and are retried
    with a backoff per event type (from ``unroutable_retry`` seconds, doubling) without
    blocking other event types.
    """

    def __init__(
        self,
        db: Database,
        amqp_url: str,
        exchange: str = DEFAULT_EXCHANGE,
        poll_interval: float = BACKSTOP_POLL_S,
        batch_size: int = 100,
        *,
        policy: OutboxPolicy | None = None,
        purge_interval: float = 3600.0,
        unroutable_retry: float = UNROUTABLE_RETRY_S,
        pending_interval: float = 15.0,
        stuck_log_interval: float = 600.0,
    ) -> None:
        self._db = db
        self._amqp_url = amqp_url
        self.exchange = exchange
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.policy = policy or OutboxPolicy()
        self.purge_interval = purge_interval
        self.unroutable_retry = unroutable_retry
        self.pending_interval = pending_interval
        self.stuck_log_interval = stuck_log_interval
        self._held_until: dict[str, float] = {}
        self._hold_s: dict[str, float] = {}
        self._stuck_logged_at = float("-inf")
        self._publisher: Publisher | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Publish now rather than at the next poll (a commit staged events)."""
        self._wake.set()

    def _new_publisher(self, role: str) -> Publisher:
        name = f"picopt-relay-{role} {self.exchange} schema={self._db.schema} pid={os.getpid()}"
        return Publisher(self._amqp_url, self.exchange, connection_name=name)

    def run_once(self) -> int:
        """Publish pending rows from the calling thread; returns how many were published."""
        if self._publisher is None:
            self._publisher = self._new_publisher("once")
        return self._publish_batch(self._publisher)

    def _publish_batch(self, publisher: Publisher) -> int:
        now = time.monotonic()
        held = {t for t, until in self._held_until.items() if until > now}
        query = (
            sa.select(OutboxRow)
            .where(OutboxRow.published_at.is_(None))
            .order_by(OutboxRow.id)
            .limit(self.batch_size)
        )
        if held:
            query = query.where(OutboxRow.event_type.not_in(held))
        if self._db.dialect == "postgresql":
            # Several relays of one service share the table: each takes different rows.
            query = query.with_for_update(skip_locked=True)
        published = 0
        failure: PublishError | None = None
        with self._db.session() as session:
            for row in session.scalars(query):
                if row.event_type in held:
                    continue
                try:
                    publisher.publish(events_pb2.Envelope.FromString(row.envelope))
                except UnroutableError:
                    held.add(row.event_type)
                    self._hold(row.event_type, now)
                    continue
                except PublishError as exc:
                    failure = exc
                    break
                self._hold_s.pop(row.event_type, None)
                row.published_at = utcnow()
                published += 1
        if failure is not None:
            raise failure
        return published

    def _hold(self, event_type: str, now: float) -> None:
        """No queue is bound for this type (its consumer has not declared it yet): try again
        later, backing off, and say so once per try rather than once per row."""
        delay = self._hold_s.get(event_type, self.unroutable_retry / 2) * 2
        delay = min(delay, UNROUTABLE_RETRY_MAX_S)
        self._hold_s[event_type] = delay
        self._held_until[event_type] = now + delay
        log.warning("outbox_event_unroutable", event_type=event_type, retry_in=round(delay, 1))

    def check_pending(self) -> None:
        """Update the pending gauges; log rows stuck past `stuck_after` (at most every
        `stuck_log_interval`)."""
        stuck_before = utcnow() - timedelta(seconds=self.policy.stuck_after_s)
        count, oldest_s, stuck = pending_summary(self._db, stuck_before)
        metrics.OUTBOX_PENDING.set(count)
        metrics.OUTBOX_OLDEST_PENDING.set(oldest_s)
        now = time.monotonic()
        if stuck and now - self._stuck_logged_at >= self.stuck_log_interval:
            self._stuck_logged_at = now
            log.warning(
                "outbox_events_stuck",
                schema=self._db.schema,
                oldest_s=round(oldest_s),
                by_type=stuck,
                discard_after_s=self.policy.discard_after_s,
            )

    def start(self) -> None:
        """Relay in a daemon thread with its own connection until stop()."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"outbox-relay-{self._db.schema}", daemon=True
        )
        _RELAYS.add(self)
        self._thread.start()

    def _loop(self) -> None:
        publisher = self._new_publisher("loop")
        backoff = Backoff()
        next_purge = next_count = time.monotonic()
        log.info("outbox_relay_started", schema=self._db.schema, exchange=self.exchange)
        try:
            while not self._stop.is_set():
                try:
                    # Counted before publishing, so the gauge still moves while the broker is down.
                    if time.monotonic() >= next_count:
                        next_count = time.monotonic() + self.pending_interval
                        self.check_pending()
                    count = self._publish_batch(publisher)
                    if time.monotonic() >= next_purge:
                        purge_kernel_tables(self._db, self.policy)
                        next_purge = time.monotonic() + self.purge_interval
                except Exception as exc:
                    # Broker or database down: rows stay pending and are retried.
                    delay = backoff.next_delay()
                    log.warning(
                        "outbox_relay_failed",
                        schema=self._db.schema,
                        error_type=type(exc).__name__,
                        retry_in=round(delay, 2),
                    )
                    publisher.close()
                    self._stop.wait(delay)
                    continue
                backoff.reset()
                if count:
                    log.debug("outbox_published", schema=self._db.schema, count=count)
                if count < self.batch_size:
                    publisher.keepalive()
                    # Cleared before the next batch: a commit after this point wakes it again.
                    self._wake.wait(self.poll_interval)
                    self._wake.clear()
        finally:
            publisher.close()
            log.info("outbox_relay_stopped", schema=self._db.schema)

    def stop(self, timeout: float = 5) -> None:
        """Stop the background thread (after its current batch) and close connections."""
        _RELAYS.discard(self)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
