"""Event consumer: manual acks after commit, dedup by event id, backoff retries, DLQ.

A failed event waits in a delay queue and comes back: a transient failure (a backend
down, see `transient.py`) for as long as an outage may last, any other failure for a
few attempts; then it is dead-lettered with a reason and the exception's class only.

Each event is handled inside a consumer span that continues the trace of the
envelope's `traceparent`, and is counted and timed (picopt.kernel.metrics).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions
import structlog
from google.protobuf.message import Message
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from picopt.events.v1 import events_pb2
from picopt.kernel import metrics, tracing
from picopt.kernel.db import Database, ProcessedEvent, utcnow
from picopt.kernel.logs import bound_context
from picopt.kernel.messaging import headers
from picopt.kernel.messaging.catalog import event_kind
from picopt.kernel.messaging.connection import (
    DEFAULT_HEARTBEAT,
    RECONNECT_ERRORS,
    Backoff,
    connection_parameters,
)
from picopt.kernel.messaging.deadletters import DeadLetterQueues
from picopt.kernel.messaging.policy import DeadLetterPolicy, RetryPolicy
from picopt.kernel.messaging.topology import (
    DEFAULT_DLX,
    DEFAULT_EXCHANGE,
    PRECONDITION_FAILED,
    declare_delay_queues,
    declare_exchanges,
    declare_subscription,
    delay_queue_name,
    queue_name,
)
from picopt.kernel.messaging.transient import PermanentError, is_transient

log = structlog.get_logger(__name__)


@dataclass
class HandlerContext:
    """What a handler gets: the event, its decoded payload and the open transaction."""

    envelope: events_pb2.Envelope
    payload: Message
    session: Session | None
    # Failures that were not transient so far, plus one (a backend outage does not count).
    attempt: int
    # What the subscription's `prepare` step returned (None without one).
    prepared: Any = None
    # This service's dead-letter queues (erasure removes the user's messages from them).
    dead_letters: DeadLetterQueues | None = None


@dataclass(frozen=True)
class Subscription:
    """Handle one event type; the service's queue for it is "<service>.<event_type>".

    `prepare`, if given, runs before the handler's transaction opens and gets the
    same context without a session: slow work (an image to optimize) goes there so
    no database lock is held meanwhile; the handler then records its outcome.
    """

    event_type: str
    payload_type: type[Message]
    handler: Callable[[HandlerContext], None]
    prepare: Callable[[HandlerContext], Any] | None = None


class TopologyMismatchError(RuntimeError):
    """A queue or exchange exists with different arguments (e.g. another delivery limit)."""


class _Duplicate(Exception):
    """Internal: the event id is already recorded for this queue."""


class _ConsumerCancelled(Exception):
    """Internal: the broker cancelled our consumer (queue deleted, leader moved)."""


class _Abandoned(Exception):
    """Internal: stop() was called and the message in hand outlived the grace period."""


class _HandlerThreads:
    """Runs each handler call in its own daemon thread.

    Daemon, unlike a ThreadPoolExecutor's threads, so a handler abandoned at shutdown
    (its message left unacked for the broker to redeliver) never holds the process.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._last: threading.Thread | None = None

    def submit(self, fn: Callable[..., str], *args: Any) -> Future[str]:
        future: Future[str] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        self._last = threading.Thread(target=run, name=self.name, daemon=True)
        self._last.start()
        return future

    def join(self) -> None:
        if self._last is not None:
            self._last.join()


_RESTART_ERRORS: tuple[type[BaseException], ...] = (*RECONNECT_ERRORS, _ConsumerCancelled)
_Delivery = tuple[str, Basic.Deliver, BasicProperties, bytes]


def _attempt_of(properties: BasicProperties) -> int:
    return max(1, headers.int_header(properties.headers, headers.ATTEMPT, 1))


def _error_site(exc: BaseException) -> str:
    """Where it failed (file:line function), loggable without the exception's message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"{os.path.basename(last.filename)}:{last.lineno} {last.name}"


class Consumer:
    """Consumes one queue per subscription; at-least-once delivery, effectively-once effects
    when a database is given (processed event ids are recorded in the handler's transaction).

    Not reusable after stop(): a stop that races with the start of run() is not lost.
    """

    def __init__(
        self,
        amqp_url: str,
        service: str,
        subscriptions: Sequence[Subscription],
        db: Database | None = None,
        exchange: str = DEFAULT_EXCHANGE,
        dlx: str = DEFAULT_DLX,
        prefetch: int = 1,
        delivery_limit: int = 10,
        *,
        retry: RetryPolicy | None = None,
        dead_letters: DeadLetterPolicy | None = None,
        heartbeat: int = DEFAULT_HEARTBEAT,
        stop_grace_s: float | None = None,
    ) -> None:
        if not subscriptions:
            raise ValueError("a consumer needs at least one subscription")
        if prefetch < 1:
            raise ValueError("prefetch must be >= 1")
        for sub in subscriptions:
            if event_kind(sub.event_type) is None:
                raise ValueError(
                    f"unknown event type {sub.event_type!r}: add it to picopt.kernel.messaging"
                    ".catalog"
                )
        self.service = service
        self.exchange = exchange
        self.dlx = dlx
        self.prefetch = prefetch
        self.retry = retry or RetryPolicy()
        self.dead_letter_policy = dead_letters or DeadLetterPolicy()
        self.delivery_limit = delivery_limit
        self.dead_letters = DeadLetterQueues(
            amqp_url, services=(service,), policy=self.dead_letter_policy
        )
        # After stop(), how long the message in hand may still take; None waits for it.
        self.stop_grace_s = stop_grace_s
        self._stop_deadline: float | None = None
        self._db = db
        self._routes: dict[str, Subscription] = {}
        for sub in subscriptions:
            queue = queue_name(service, sub.event_type)
            if queue in self._routes:
                raise ValueError(f"duplicate subscription for {sub.event_type!r}")
            self._routes[queue] = sub
        self._params = connection_parameters(
            amqp_url,
            f"picopt-consumer {service} {exchange} pid={os.getpid()}",
            heartbeat=heartbeat,
        )
        self._stop_requested = False
        self._run_thread: threading.Thread | None = None
        self._connection: pika.BlockingConnection | None = None
        self._broker_cancelled = False

    @property
    def queues(self) -> list[str]:
        """Main queue names, one per subscription."""
        return list(self._routes)

    @property
    def connected(self) -> bool:
        """True while the consumer holds an open broker connection (readiness)."""
        connection = self._connection
        return connection is not None and connection.is_open

    def declare(self) -> None:
        """Declare exchanges and every subscription's queues (idempotent)."""
        connection = pika.BlockingConnection(self._params)
        try:
            self._declare(connection)
        finally:
            if connection.is_open:
                connection.close()

    def _declare(self, connection: pika.BlockingConnection) -> None:
        """Exchanges, delay queues and each subscription's queues; existing DLQs declared with
        other arguments are migrated, a main queue declared otherwise fails loudly."""
        try:
            channel = connection.channel()
            declare_exchanges(channel, self.exchange, self.dlx)
            declare_delay_queues(channel, self.exchange, self.retry.levels_ms())
            channel.close()
            for queue, sub in self._routes.items():
                declare_subscription(
                    connection,
                    exchange=self.exchange,
                    dlx=self.dlx,
                    queue=queue,
                    routing_key=sub.event_type,
                    delivery_limit=self.delivery_limit,
                    dlq_ttl_ms=self.dead_letter_policy.ttl_for(sub.event_type) * 1000,
                )
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == PRECONDITION_FAILED:
                # Reconnecting cannot fix that, so fail loudly instead of looping.
                raise TopologyMismatchError(exc.reply_text) from exc
            raise

    def stop(self) -> None:
        """Thread- and signal-safe: finish the message in hand, then make run() return.

        With `stop_grace_s`, a message still in hand when the grace period ends is
        abandoned unacknowledged (the broker redelivers it) and run() returns anyway.
        """
        if self._stop_deadline is None and self.stop_grace_s is not None:
            self._stop_deadline = time.monotonic() + self.stop_grace_s
        self._stop_requested = True
        connection = self._connection
        # Waking the loop takes a lock; never do it from a signal handler that interrupted the
        # consumer thread itself (it notices the flag within a second anyway).
        if connection is not None and threading.current_thread() is not self._run_thread:
            self._wake(connection)

    def run(self) -> None:
        """Consume until stop(); reconnects with backoff when the broker goes away."""
        self._run_thread = threading.current_thread()
        backoff = Backoff()
        executor = _HandlerThreads(f"{self.service}-handler")
        abandoned = False
        try:
            while not self._stop_requested:
                try:
                    self._serve(executor, backoff)
                except _RESTART_ERRORS as exc:
                    if self._stop_requested:
                        break
                    delay = backoff.next_delay()
                    log.warning(
                        "consumer_connection_lost",
                        service=self.service,
                        error_type=type(exc).__name__,
                        retry_in=round(delay, 2),
                    )
                    self._sleep(delay)
                except _Abandoned:
                    abandoned = True
                    break
        finally:
            if not abandoned:
                executor.join()
            log.info("consumer_stopped", service=self.service, abandoned=abandoned)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop_requested and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    @staticmethod
    def _wake(connection: pika.BlockingConnection) -> None:
        with contextlib.suppress(*RECONNECT_ERRORS, RuntimeError):
            connection.add_callback_threadsafe(lambda: None)

    def _grace_expired(self) -> bool:
        return self._stop_deadline is not None and time.monotonic() >= self._stop_deadline

    def _serve(self, executor: _HandlerThreads, backoff: Backoff) -> None:
        connection = pika.BlockingConnection(self._params)
        self._connection = connection
        self._broker_cancelled = False
        try:
            self._declare(connection)
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_qos(prefetch_count=self.prefetch)
            buffer: deque[_Delivery] = deque()
            channel.add_on_cancel_callback(self._on_broker_cancel)
            tags = [
                channel.basic_consume(
                    queue,
                    on_message_callback=lambda _ch, method, props, body, q=queue: buffer.append(
                        (q, method, props, body)
                    ),
                    auto_ack=False,
                )
                for queue in self._routes
            ]
            backoff.reset()
            log.info("consumer_started", service=self.service, queues=list(self._routes))
            while not self._stop_requested:
                if self._broker_cancelled:
                    raise _ConsumerCancelled()
                if buffer:
                    self._process(connection, channel, executor, buffer.popleft(), tags)
                else:
                    connection.process_data_events(time_limit=1)
            self._cancel(channel, tags)
            # Deliveries still buffered were never started: closing requeues them.
            channel.close()
        finally:
            self._connection = None
            if connection.is_open:
                with contextlib.suppress(*RECONNECT_ERRORS):
                    connection.close()

    def _on_broker_cancel(self, _frame: Any) -> None:
        self._broker_cancelled = True

    @staticmethod
    def _cancel(channel: BlockingChannel, tags: list[str]) -> None:
        while tags:
            channel.basic_cancel(tags.pop())

    def _parse(
        self, sub: Subscription, body: bytes
    ) -> tuple[events_pb2.Envelope | None, Message | None, str]:
        """(envelope, payload, "") or (envelope-if-any, None, reason)."""
        try:
            envelope = events_pb2.Envelope.FromString(body)
        except Exception:
            return None, None, "malformed_envelope"
        if not envelope.event_id:
            return envelope, None, "missing_event_id"
        if envelope.type != sub.event_type:
            return envelope, None, "type_mismatch"
        try:
            payload = sub.payload_type.FromString(envelope.payload)
        except Exception:
            return envelope, None, "malformed_payload"
        return envelope, payload, ""

    def _process(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        executor: _HandlerThreads,
        delivery: _Delivery,
        tags: list[str],
    ) -> None:
        queue, _method, props, body = delivery
        sub = self._routes[queue]
        attempt = _attempt_of(props)
        envelope, payload, reason = self._parse(sub, body)
        if envelope is None or payload is None:
            event_id = (envelope.event_id if envelope else "") or props.message_id or ""
            self._dead_letter(channel, delivery, reason, "", event_id, attempt)
            return
        if envelope.HasField("occurred_at"):
            lag = (datetime.now(UTC) - envelope.occurred_at.ToDatetime(UTC)).total_seconds()
            metrics.EVENT_LAG_SECONDS.labels(queue).observe(max(0.0, lag))

        future = executor.submit(self._handle, sub, queue, envelope, payload, attempt)
        future.add_done_callback(lambda _f: self._wake(connection))
        try:
            # Only this thread touches the connection; pumping it keeps heartbeats flowing
            # while a long handler runs in the worker.
            while not future.done():
                if self._stop_requested and tags:
                    self._cancel(channel, tags)
                if self._grace_expired():
                    # Unacked: closing the connection hands the message back to the broker.
                    metrics.EVENTS_CONSUMED.labels(queue, "abandoned").inc()
                    log.warning(
                        "event_abandoned_at_stop",
                        queue=queue,
                        event_id=envelope.event_id,
                        grace_s=self.stop_grace_s,
                    )
                    raise _Abandoned()
                connection.process_data_events(time_limit=1)
        except RECONNECT_ERRORS:
            # Cannot ack any more: let the handler finish (its commit makes the redelivery a
            # duplicate) before reconnecting, so it never runs twice at once here.
            with contextlib.suppress(Exception):
                future.result()
            raise
        self._settle(channel, delivery, envelope, attempt, future)

    def _settle(
        self,
        channel: BlockingChannel,
        delivery: _Delivery,
        envelope: events_pb2.Envelope,
        attempt: int,
        future: Future[str],
    ) -> None:
        queue, method, _props, _body = delivery
        exc = future.exception()
        if exc is None:
            outcome = future.result()
            channel.basic_ack(method.delivery_tag)
            metrics.EVENTS_CONSUMED.labels(queue, outcome).inc()
            if outcome == "duplicate":
                log.info("event_duplicate_skipped", queue=queue, event_id=envelope.event_id)
            else:
                log.debug("event_handled", queue=queue, event_id=envelope.event_id, attempt=attempt)
            return
        error = type(exc).__name__
        transient = not isinstance(exc, PermanentError) and is_transient(exc)
        log.warning(
            "event_handler_failed",
            queue=queue,
            event_id=envelope.event_id,
            attempt=attempt,
            transient=transient,
            error_type=error,
            error_at=_error_site(exc),
        )
        hdrs = delivery[2].headers
        first_failed_at = headers.int_header(hdrs, headers.FIRST_FAILED_AT) or headers.now_s()
        if isinstance(exc, PermanentError):
            reason = "permanent_error"
        elif transient:
            failing_for = headers.now_s() - first_failed_at
            reason = "" if failing_for < self.retry.transient_for_s else "transient_for_too_long"
        else:
            reason = "" if attempt < self.retry.max_attempts else "max_attempts_exceeded"
        if reason:
            self._dead_letter(channel, delivery, reason, error, envelope.event_id, attempt)
        else:
            next_attempt = attempt if transient else attempt + 1
            self._retry(channel, delivery, envelope.event_id, next_attempt, first_failed_at)

    def _handle(
        self,
        sub: Subscription,
        queue: str,
        envelope: events_pb2.Envelope,
        payload: Message,
        attempt: int,
    ) -> str:
        """Runs in the worker thread, inside the event's span; never touches AMQP."""
        started = time.perf_counter()
        with (
            tracing.span(
                f"{queue} process",
                tracing.SpanKind.CONSUMER,
                traceparent=envelope.traceparent,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.operation": "process",
                    "messaging.destination.name": queue,
                    "messaging.message.id": envelope.event_id,
                    "picopt.attempt": attempt,
                },
            ) as span,
            bound_context(event_id=envelope.event_id, queue=queue),
        ):
            try:
                outcome = self._handle_in_span(sub, queue, envelope, payload, attempt)
            except BaseException as exc:
                tracing.record_error(span, type(exc).__name__)
                raise
            finally:
                metrics.EVENT_HANDLER_SECONDS.labels(queue).observe(time.perf_counter() - started)
            span.set_attribute("picopt.outcome", outcome)
            return outcome

    def _handle_in_span(
        self,
        sub: Subscription,
        queue: str,
        envelope: events_pb2.Envelope,
        payload: Message,
        attempt: int,
    ) -> str:
        if self._db is None:
            sub.handler(HandlerContext(envelope, payload, None, attempt, None, self.dead_letters))
            return "handled"
        prepared = None
        if sub.prepare is not None:
            with self._db.session(readonly=True) as session:
                if session.get(ProcessedEvent, (queue, envelope.event_id)) is not None:
                    return "duplicate"
            prepared = sub.prepare(
                HandlerContext(envelope, payload, None, attempt, None, self.dead_letters)
            )
        try:
            with self._db.session() as session:
                if session.get(ProcessedEvent, (queue, envelope.event_id)) is not None:
                    raise _Duplicate()
                # Recorded first: a concurrent copy of the event blocks on this row (PostgreSQL)
                # and then fails as a duplicate instead of running the handler twice.
                session.add(
                    ProcessedEvent(queue=queue, event_id=envelope.event_id, processed_at=utcnow())
                )
                try:
                    session.flush()
                except IntegrityError as exc:
                    raise _Duplicate() from exc
                sub.handler(
                    HandlerContext(envelope, payload, session, attempt, prepared, self.dead_letters)
                )
        except _Duplicate:
            return "duplicate"
        return "handled"

    def _retry(
        self,
        channel: BlockingChannel,
        delivery: _Delivery,
        event_id: str,
        attempt: int,
        first_failed_at: int,
    ) -> None:
        """Park the event in the delay queue of its backoff level; it comes back by itself."""
        queue, method, props, body = delivery
        retries = headers.int_header(props.headers, headers.RETRIES)
        level_ms, delay_ms = self.retry.delay_ms(retries)
        hdrs = headers.kept_headers(props.headers)
        hdrs.update(
            {
                headers.ATTEMPT: attempt,
                headers.RETRIES: retries + 1,
                headers.FIRST_FAILED_AT: first_failed_at,
                headers.RETRY_TO: queue,
            }
        )
        # Confirmed publish before the ack: a crash in between redelivers, never loses.
        channel.basic_publish(
            exchange="",
            routing_key=delay_queue_name(self.exchange, level_ms),
            body=body,
            properties=headers.copy_properties(props, hdrs, expiration=str(delay_ms)),
            mandatory=True,
        )
        channel.basic_ack(method.delivery_tag)
        metrics.EVENTS_CONSUMED.labels(queue, "retried").inc()
        log.info(
            "event_retry_scheduled",
            queue=queue,
            event_id=event_id,
            attempt=attempt,
            retries=retries + 1,
            delay_ms=delay_ms,
        )

    def _dead_letter(
        self,
        channel: BlockingChannel,
        delivery: _Delivery,
        reason: str,
        error: str,
        event_id: str,
        attempt: int,
    ) -> None:
        queue, method, props, body = delivery
        # Only counters, times, the reason and the exception's class: never its message,
        # which may quote personal data (an email in a constraint violation, say).
        hdrs = headers.kept_headers(props.headers)
        hdrs.update(
            {
                headers.QUEUE: queue,
                headers.REASON: reason,
                headers.ATTEMPT: attempt,
                headers.DEAD_LETTERED_AT: headers.now_s(),
            }
        )
        if error:
            hdrs[headers.ERROR] = error
        # Confirmed publish before the ack: a crash in between leaves the original unacked
        # (redelivered) rather than losing it.
        channel.basic_publish(
            exchange=self.dlx,
            routing_key=queue,
            body=body,
            properties=headers.copy_properties(props, hdrs),
            mandatory=True,
        )
        channel.basic_ack(method.delivery_tag)
        metrics.EVENTS_CONSUMED.labels(queue, "dead_lettered").inc()
        log.warning(
            "message_dead_lettered", queue=queue, event_id=event_id, reason=reason, attempt=attempt
        )
