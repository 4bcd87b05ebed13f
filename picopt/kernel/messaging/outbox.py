"""Transactional outbox: events are rows in the producer's transaction, published afterwards."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
import structlog
from google.protobuf.message import Message
from sqlalchemy.orm import Session

from picopt.events.v1 import events_pb2
from picopt.kernel import metrics
from picopt.kernel.db import Database, OutboxRow, ProcessedEvent, utcnow
from picopt.kernel.messaging.connection import Backoff
from picopt.kernel.messaging.envelope import new_envelope
from picopt.kernel.messaging.publisher import Publisher, PublishError, UnroutableError
from picopt.kernel.messaging.topology import DEFAULT_EXCHANGE

log = structlog.get_logger(__name__)

DEFAULT_RETENTION = timedelta(days=7)


class Outbox:
    """Transactional outbox: the event row is written in the caller's transaction."""

    def __init__(self, producer: str) -> None:
        self.producer = producer

    def add(
        self, session: Session, event_type: str, payload: Message, traceparent: str = ""
    ) -> str:
        """Stage the event; it exists only if the caller's transaction commits."""
        envelope = new_envelope(event_type, payload, self.producer, traceparent)
        session.add(
            OutboxRow(
                event_id=envelope.event_id,
                event_type=event_type,
                envelope=envelope.SerializeToString(),
                created_at=utcnow(),
            )
        )
        return envelope.event_id


def purge_kernel_tables(db: Database, retention: timedelta = DEFAULT_RETENTION) -> int:
    """Delete published outbox rows and processed-event ids older than the retention.

    Redeliveries arrive within minutes, so a week of processed ids is ample for dedup.
    """
    cutoff = utcnow() - retention
    with db.session() as session:
        outbox = session.execute(
            sa.delete(OutboxRow).where(
                OutboxRow.published_at.is_not(None), OutboxRow.published_at < cutoff
            )
        )
        processed = session.execute(
            sa.delete(ProcessedEvent).where(ProcessedEvent.processed_at < cutoff)
        )
    return int(outbox.rowcount or 0) + int(processed.rowcount or 0)  # type: ignore[attr-defined]


def count_pending(db: Database) -> int:
    """Committed events not yet published (the picopt_outbox_pending_events gauge)."""
    with db.session(readonly=True) as session:
        query = sa.select(sa.func.count()).where(OutboxRow.published_at.is_(None))
        return int(session.scalar(query) or 0)


class OutboxRelay:
    """Publishes committed outbox rows in order and marks them; a crash between publish and
    mark only causes a duplicate, which consumers drop by event id.

    Rows whose type has no bound queue yet (consumer not started) stay pending and are retried
    after ``unroutable_retry`` seconds without blocking other event types.
    """

    def __init__(
        self,
        db: Database,
        amqp_url: str,
        exchange: str = DEFAULT_EXCHANGE,
        poll_interval: float = 0.2,
        batch_size: int = 100,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        purge_interval: float = 3600.0,
        unroutable_retry: float = 5.0,
        pending_interval: float = 15.0,
    ) -> None:
        self._db = db
        self._amqp_url = amqp_url
        self.exchange = exchange
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.retention = retention
        self.purge_interval = purge_interval
        self.unroutable_retry = unroutable_retry
        self.pending_interval = pending_interval
        self._held_until: dict[str, float] = {}
        self._publisher: Publisher | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
                    self._held_until[row.event_type] = now + self.unroutable_retry
                    log.warning(
                        "outbox_event_unroutable", event_id=row.event_id, event_type=row.event_type
                    )
                    continue
                except PublishError as exc:
                    failure = exc
                    break
                row.published_at = utcnow()
                published += 1
        if failure is not None:
            raise failure
        return published

    def start(self) -> None:
        """Relay in a daemon thread with its own connection until stop()."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"outbox-relay-{self._db.schema}", daemon=True
        )
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
                        metrics.OUTBOX_PENDING.set(count_pending(self._db))
                    count = self._publish_batch(publisher)
                    if time.monotonic() >= next_purge:
                        purge_kernel_tables(self._db, self.retention)
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
                    self._stop.wait(self.poll_interval)
        finally:
            publisher.close()
            log.info("outbox_relay_stopped", schema=self._db.schema)

    def stop(self, timeout: float = 5) -> None:
        """Stop the background thread (after its current batch) and close connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
