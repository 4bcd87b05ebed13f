"""Declare a queue whose arguments may have changed since it was first created.

RabbitMQ refuses to redeclare a queue with other arguments (PRECONDITION_FAILED), and
queue arguments cannot be edited. For queues no consumer reads from (dead-letter
queues), `ensure_queue` migrates in place: a `<name>.migrating` queue with the new
arguments takes the bindings and the messages, the old queue is deleted and declared
again, and the messages move back. Each message is published (confirmed) before it is
acknowledged, so a crash at any point loses nothing; the next start finishes the job.
Moved messages keep their age: their expiration is what is left of the queue's TTL
since they were dead-lettered, and headers are scrubbed on the way.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pika
import pika.exceptions
import structlog
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import BasicProperties

from picopt.kernel.messaging import headers

log = structlog.get_logger(__name__)

PRECONDITION_FAILED = 406
NOT_FOUND = 404
_CLASS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$")
Bindings = list[tuple[str, str]]
Transform = Callable[[BasicProperties], BasicProperties | None]


def migrating_name(name: str) -> str:
    return f"{name}.migrating"


@contextmanager
def _channel(connection: pika.BlockingConnection) -> Iterator[BlockingChannel]:
    channel = connection.channel()
    try:
        yield channel
    finally:
        with contextlib.suppress(pika.exceptions.AMQPError):
            if channel.is_open:
                channel.close()


def _exists(connection: pika.BlockingConnection, name: str) -> bool:
    with _channel(connection) as channel:
        try:
            channel.queue_declare(queue=name, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == NOT_FOUND:
                return False
            raise
    return True


def _declare(
    connection: pika.BlockingConnection, name: str, arguments: dict[str, Any], bindings: Bindings
) -> bool:
    """Declare and bind; False when the queue exists with other arguments."""
    with _channel(connection) as channel:
        try:
            channel.queue_declare(queue=name, durable=True, arguments=arguments)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == PRECONDITION_FAILED:
                return False
            raise
        for exchange, routing_key in bindings:
            channel.queue_bind(queue=name, exchange=exchange, routing_key=routing_key)
    return True


def ensure_queue(
    connection: pika.BlockingConnection, name: str, arguments: dict[str, Any], bindings: Bindings
) -> None:
    """Declare `name` with `arguments`, migrating an existing queue declared otherwise."""
    if not _declare(connection, name, arguments, bindings):
        _migrate(connection, name, arguments, bindings)
    elif _exists(connection, migrating_name(name)):
        # A migration was interrupted after the queue came back: finish it.
        _finish(connection, name, arguments, bindings)


def _migrate(
    connection: pika.BlockingConnection, name: str, arguments: dict[str, Any], bindings: Bindings
) -> None:
    temp = migrating_name(name)
    if not _declare(connection, temp, arguments, bindings):
        raise RuntimeError(f"{temp} exists with other arguments; move or delete it by hand")
    # From here new dead letters land in the temporary queue only.
    moved = _empty_into(connection, name, temp, arguments, bindings)
    log.info("queue_migration_started", queue=name, moved=moved)
    if not _declare(connection, name, arguments, bindings):
        raise RuntimeError(f"{name} was declared again with other arguments during migration")
    _finish(connection, name, arguments, bindings)


def _finish(
    connection: pika.BlockingConnection, name: str, arguments: dict[str, Any], bindings: Bindings
) -> None:
    moved = _empty_into(connection, migrating_name(name), name, arguments, bindings)
    log.info("queue_migrated", queue=name, moved=moved)


def _empty_into(
    connection: pika.BlockingConnection,
    source: str,
    target: str,
    arguments: dict[str, Any],
    bindings: Bindings,
) -> int:
    """Unbind `source`, move its messages to `target` (scrubbed, keeping their age), delete it.

    Quorum queues have no delete-if-empty: whatever reached it meanwhile is moved first, and
    a message still lost in the last instant is logged by count.
    """
    ttl_ms = _ttl_ms(arguments)
    with _channel(connection) as channel:
        for exchange, routing_key in bindings:
            channel.queue_unbind(queue=source, exchange=exchange, routing_key=routing_key)
        channel.confirm_delivery()
        moved = 0
        while channel.queue_declare(queue=source, passive=True).method.message_count:
            moved += move_messages(channel, source, target, lambda p: scrubbed(p, ttl_ms))
        lost = channel.queue_delete(queue=source).method.message_count
    if lost:
        log.error("queue_migration_lost_messages", queue=source, count=lost)
    return moved


def move_messages(channel: BlockingChannel, source: str, target: str, transform: Transform) -> int:
    """Move every message: publish (confirmed) to `target`, then ack; None from `transform`
    drops the message. Returns how many were moved."""
    moved = 0
    while True:
        method, properties, body = channel.basic_get(queue=source, auto_ack=False)
        if method is None:
            return moved
        new = transform(properties)
        if new is not None:
            channel.basic_publish(
                exchange="", routing_key=target, body=body, properties=new, mandatory=True
            )
            moved += 1
        channel.basic_ack(method.delivery_tag)


def _ttl_ms(arguments: dict[str, Any]) -> int | None:
    ttl = arguments.get("x-message-ttl")
    return int(ttl) if ttl is not None else None


def scrubbed(properties: BasicProperties, ttl_ms: int | None) -> BasicProperties | None:
    """A dead letter's properties with only the agreed headers (an old free-text error
    becomes its class name) and an expiration of what is left of its lifetime; None when
    nothing is left."""
    kept = headers.kept_headers(properties.headers)
    error = kept.get(headers.ERROR)
    if isinstance(error, bytes):
        error = error.decode(errors="replace")
    if isinstance(error, str):
        head = error.split(":", 1)[0].strip()
        kept[headers.ERROR] = head if _CLASS_NAME.match(head) else "unknown"
    since = headers.dead_lettered_at(kept)
    now = headers.now_s()
    if since is None:
        since = now  # age unknown (an old dead letter): it gets a full lifetime from now
    kept[headers.DEAD_LETTERED_AT] = int(since)
    expiration = None
    if ttl_ms is not None:
        left_ms = int(ttl_ms - (now - since) * 1000)
        if left_ms <= 0:
            return None
        expiration = str(left_ms)
    return headers.copy_properties(properties, kept, expiration)
