"""Reading and acting on dead-letter queues: depths, messages, replay, purge, erasure.

Every operation is one pass over a DLQ: an exclusive consumer takes all of its
messages, each is kept, dropped or sent back to its queue, and the kept ones are
returned at once. Exclusive, so two passes never split a queue between them (one
waits for the other). A pass also drops any message past its TTL wherever it sits
(the broker expires from the head only, and a pass may put older messages behind
newer ones), so what a DLQ holds never outlives its promise by more than one TTL.

Nothing here returns personal data: listings show the event type, its id, age,
attempts and an error class; `show` redacts every free-text payload field.
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pika
import pika.exceptions
import structlog
from google.protobuf.json_format import MessageToDict
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties

from picopt.events.v1 import events_pb2
from picopt.kernel.messaging import headers
from picopt.kernel.messaging.catalog import EVENTS, event_kind
from picopt.kernel.messaging.connection import connection_parameters
from picopt.kernel.messaging.policy import DeadLetterPolicy
from picopt.kernel.messaging.topology import dead_letter_queue_name, origin_queue, queue_name
from picopt.kernel.settings import SERVICES, Env

log = structlog.get_logger(__name__)

NOT_FOUND = 404
ACCESS_REFUSED = 403
# An id shorter than this could match by accident inside another message.
_MIN_ID_LENGTH = 8
_SHOWN_SUFFIXES = ("_id", "_ids", "_key", "_keys", "_at")


class DeadLetterQueueBusy(RuntimeError):
    """Another pass holds the queue (its exclusive consumer did not let go in time)."""


class Action(enum.Enum):
    KEEP = "kept"
    DROP = "dropped"
    REPLAY = "replayed"


@dataclass(frozen=True)
class DeadLetter:
    """What staff may see of a dead letter: no payload, no free text."""

    queue: str
    event_type: str
    event_id: str
    age_s: float | None
    attempts: int
    reason: str
    error: str
    replayed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QueueDepth:
    """A DLQ's depth and the age of its oldest message (None when empty or unknown)."""

    queue: str
    depth: int
    oldest_age_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeadLetterDetail:
    letter: DeadLetter
    envelope: dict[str, Any]
    headers: dict[str, Any]
    payload: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.letter.as_dict(),
            "envelope": self.envelope,
            "headers": self.headers,
            "payload": self.payload,
        }


@dataclass
class Held:
    """One message a pass holds, with what staff may see of it."""

    delivery_tag: int
    properties: BasicProperties
    body: bytes
    letter: DeadLetter


@dataclass
class PassResult:
    kept: list[DeadLetter] = field(default_factory=list)
    dropped: list[DeadLetter] = field(default_factory=list)
    replayed: list[DeadLetter] = field(default_factory=list)
    expired: int = 0


Decide = Callable[[Held], Action]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return "" if value is None else str(value)


def _envelope(body: bytes) -> events_pb2.Envelope | None:
    try:
        return events_pb2.Envelope.FromString(body)
    except Exception:
        return None


def describe(queue: str, properties: BasicProperties, body: bytes, now: float) -> DeadLetter:
    hdrs: Mapping[str, Any] = properties.headers or {}
    envelope = _envelope(body)
    since = headers.dead_lettered_at(hdrs)
    return DeadLetter(
        queue=queue,
        event_type=(envelope.type if envelope else "") or _text(properties.type),
        event_id=(envelope.event_id if envelope else "") or _text(properties.message_id),
        age_s=None if since is None else round(max(0.0, now - since), 1),
        # 0 when the broker dead-lettered it (delivery limit: its consumers kept dying).
        attempts=headers.int_header(hdrs, headers.ATTEMPT),
        reason=_text(hdrs.get(headers.REASON) or hdrs.get("x-first-death-reason")),
        error=_text(hdrs.get(headers.ERROR)),
        replayed=headers.int_header(hdrs, headers.REPLAYED),
    )


def redacted(value: Any, key: str = "") -> Any:
    """A payload with ids, keys, times, numbers and flags kept and every other text hidden."""
    if isinstance(value, dict):
        return {k: redacted(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v, key) for v in value]
    if isinstance(value, bool | int | float) or key.endswith(_SHOWN_SUFFIXES):
        return value
    return f"[redacted, {len(str(value))} chars]"


def detail(item: Held) -> DeadLetterDetail:
    """One dead letter for `show`: envelope metadata, the agreed headers, a redacted payload."""
    envelope = _envelope(item.body)
    meta: dict[str, Any] = {}
    payload: dict[str, Any] = {}
    if envelope is not None:
        meta = {"producer": envelope.producer, "traceparent": envelope.traceparent}
        if envelope.HasField("occurred_at"):
            meta["occurred_at"] = envelope.occurred_at.ToJsonString()
        kind = event_kind(envelope.type)
        if kind is not None:
            with contextlib.suppress(Exception):
                message = kind.payload.FromString(envelope.payload)
                payload = redacted(MessageToDict(message, preserving_proto_field_name=True))
    kept = {k: _jsonable(v) for k, v in headers.kept_headers(item.properties.headers).items()}
    return DeadLetterDetail(item.letter, meta, kept, payload)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def replay_properties(properties: BasicProperties) -> BasicProperties:
    """Fresh attempts for the consumer; only the replay count remembers the past."""
    replayed = headers.int_header(properties.headers, headers.REPLAYED) + 1
    return headers.copy_properties(properties, {headers.REPLAYED: replayed})


def _only(event_ids: Iterable[str] | None, action: Action) -> Decide:
    """`action` for the given event ids (every message when None), keep the rest."""
    wanted = None if event_ids is None else set(event_ids)
    return lambda item: action if wanted is None or item.letter.event_id in wanted else Action.KEEP


def dead_letter_depths(amqp_url: str, env: Mapping[str, str] | None = None) -> list[QueueDepth]:
    """Depth and oldest message age of every dead-letter queue of the deployment: the
    evidence the compliance report shows (TTLs from EVENT_DLQ_* in `env`)."""
    policy = DeadLetterPolicy.from_env(Env(env))
    return DeadLetterQueues(amqp_url, policy=policy).depths()


class DeadLetterQueues:
    """The dead-letter queues of the bus (of `services`, for every catalogued event)."""

    def __init__(
        self,
        amqp_url: str,
        *,
        services: Sequence[str] = SERVICES,
        policy: DeadLetterPolicy | None = None,
        busy_timeout_s: float = 30.0,
    ) -> None:
        self._params = connection_parameters(amqp_url, "picopt-dead-letters")
        self.services = tuple(services)
        self.policy = policy or DeadLetterPolicy()
        self.busy_timeout_s = busy_timeout_s

    # -- reading ---------------------------------------------------------------

    def find(self, service: str | None = None) -> list[str]:
        """Existing DLQs, found by name: `<service>.<event>.dlq` for every catalogued event."""
        candidates = [
            dead_letter_queue_name(queue_name(s, event))
            for s in ((service,) if service else self.services)
            for event in EVENTS
        ]
        with self._connection() as connection:
            return [q for q in candidates if self._exists(connection, q)]

    def depths(self, queues: Iterable[str] | None = None) -> list[QueueDepth]:
        """Depth and oldest message age of each DLQ (the privacy report's evidence)."""
        result = []
        for queue in self.find() if queues is None else queues:
            outcome = self._pass(queue, lambda _item: Action.KEEP)
            ages = [k.age_s for k in outcome.kept if k.age_s is not None]
            result.append(QueueDepth(queue, len(outcome.kept), max(ages) if ages else None))
        return result

    def messages(self, queue: str) -> list[DeadLetter]:
        return self._pass(queue, lambda _item: Action.KEEP).kept

    def show(self, queue: str, event_id: str) -> DeadLetterDetail | None:
        found: list[DeadLetterDetail] = []

        def look(item: Held) -> Action:
            if item.letter.event_id == event_id and not found:
                found.append(detail(item))
            return Action.KEEP

        self._pass(queue, look)
        return found[0] if found else None

    # -- acting ----------------------------------------------------------------

    def replay(self, queue: str, event_ids: Iterable[str] | None = None) -> list[DeadLetter]:
        """Send the given dead letters (all when None) back to their consumer queue."""
        replayed = self._pass(queue, _only(event_ids, Action.REPLAY)).replayed
        log.info("dead_letters_replayed", queue=queue, count=len(replayed))
        return replayed

    def purge(self, queue: str, event_ids: Iterable[str] | None = None) -> list[DeadLetter]:
        """Delete the given dead letters (all when None)."""
        dropped = self._pass(queue, _only(event_ids, Action.DROP)).dropped
        log.info("dead_letters_purged", queue=queue, count=len(dropped))
        return dropped

    def remove_naming(self, service: str, identifiers: Iterable[str]) -> int:
        """Erasure: delete every dead letter of `service` whose message names one of the ids
        (a user id, the ids of their jobs). Returns how many were deleted."""
        needles = [i.encode() for i in set(identifiers) if len(i) >= _MIN_ID_LENGTH]
        if not needles:
            return 0
        removed = 0
        for queue in self.find(service):
            outcome = self._pass(
                queue,
                lambda item: Action.DROP if any(n in item.body for n in needles) else Action.KEEP,
            )
            removed += len(outcome.dropped)
        return removed

    # -- the pass --------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Any:
        connection = pika.BlockingConnection(self._params)
        try:
            yield connection
        finally:
            with contextlib.suppress(pika.exceptions.AMQPError):
                if connection.is_open:
                    connection.close()

    def _exists(self, connection: pika.BlockingConnection, queue: str) -> bool:
        try:
            self._counts(connection, queue)
        except KeyError:
            return False
        return True

    def _ttl_s(self, queue: str) -> int:
        event_type = origin_queue(queue).split(".", 1)[-1]
        return self.policy.ttl_for(event_type)

    def _pass(self, queue: str, decide: Decide) -> PassResult:
        result = PassResult()
        with self._connection() as connection:
            channel, tag, held = self._take(connection, queue)
            if channel is None:
                return result
            ttl_s = self._ttl_s(queue)
            for item in held:
                self._settle(channel, queue, item, decide, ttl_s, result)
            channel.basic_cancel(tag)
            # Everything not acknowledged goes back, in order, in one go; the queue takes
            # them back asynchronously, so wait until it shows them (the next pass would
            # otherwise find it empty).
            channel.basic_nack(delivery_tag=0, multiple=True, requeue=True)
            channel.close()
            deadline = time.monotonic() + self.busy_timeout_s
            while self._counts(connection, queue)[0] < len(result.kept):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        if result.expired:
            log.info("dead_letters_expired", queue=queue, count=result.expired)
        return result

    def _take(
        self, connection: pika.BlockingConnection, queue: str
    ) -> tuple[BlockingChannel | None, str, list[Held]]:
        """Every message of the queue, held unacknowledged by an exclusive consumer."""
        held: list[Held] = []
        now = time.time()

        def on_message(
            _ch: BlockingChannel, method: Basic.Deliver, props: BasicProperties, body: bytes
        ) -> None:
            held.append(Held(method.delivery_tag, props, body, describe(queue, props, body, now)))

        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            ready, consumers = self._counts(connection, queue)
            if ready == 0 and consumers == 0:
                return None, "", held
            channel = connection.channel()
            channel.confirm_delivery()
            try:
                tag = channel.basic_consume(queue, on_message_callback=on_message, exclusive=True)
                break
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != ACCESS_REFUSED:
                    raise
                if time.monotonic() > deadline:
                    raise DeadLetterQueueBusy(f"{queue} is held by another pass") from exc
                time.sleep(0.2)
        # Delivered until none is ready (or the queue fills faster than it empties), then the
        # frames still on the wire.
        while self._counts(connection, queue)[0] > 0 and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)
        connection.process_data_events(time_limit=0.2)
        return channel, str(tag), held

    def _counts(self, connection: pika.BlockingConnection, queue: str) -> tuple[int, int]:
        """(ready messages, consumers)."""
        channel = connection.channel()
        try:
            ok = channel.queue_declare(queue=queue, passive=True).method
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == NOT_FOUND:
                raise KeyError(f"no queue named {queue}") from exc
            raise
        finally:
            with contextlib.suppress(pika.exceptions.AMQPError):
                if channel.is_open:
                    channel.close()
        return int(ok.message_count), int(ok.consumer_count)

    def _settle(
        self,
        channel: BlockingChannel,
        queue: str,
        item: Held,
        decide: Decide,
        ttl_s: int,
        result: PassResult,
    ) -> None:
        letter = item.letter
        if letter.age_s is not None and letter.age_s >= ttl_s:
            channel.basic_ack(item.delivery_tag)
            result.expired += 1
            return
        action = decide(item)
        if action is Action.KEEP:
            result.kept.append(letter)
            return
        if action is Action.REPLAY:
            channel.basic_publish(
                exchange="",
                routing_key=origin_queue(queue),
                body=item.body,
                properties=replay_properties(item.properties),
                mandatory=True,
            )
            result.replayed.append(letter)
        else:
            result.dropped.append(letter)
        channel.basic_ack(item.delivery_tag)
