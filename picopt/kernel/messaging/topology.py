"""Exchange and queue layout, declared idempotently by whoever connects first.

- `picopt.events` (topic): every event, routed by its type to one quorum queue per
  consumer and event, `<service>.<event>`.
- `picopt.events.retry.<ms>ms`: shared delay queues, one per backoff level. A failed
  event waits in one (the queue's TTL is the level; the message's own expiration adds
  jitter) and is then dead-lettered to `picopt.events.retry` (headers), which sends it
  back to the queue named in its `picopt-retry-queue` header.
- `picopt.dlx` (direct) -> `<queue>.dlq`: dead letters, each DLQ with a TTL.

Queues that already exist with other arguments make the broker refuse a declaration
(PRECONDITION_FAILED). Dead-letter queues are migrated in place (`migration.py`); a main
queue mismatch fails loudly, since consumers are attached to it. The fixed-delay
`<queue>.retry` queues of earlier versions are no longer used; they empty themselves
within seconds of the last old process stopping and are then deleted by hand (README).
"""

from __future__ import annotations

from typing import Any

import pika

from picopt.kernel.messaging import headers
from picopt.kernel.messaging.migration import ensure_queue

DEFAULT_EXCHANGE = "picopt.events"
DEFAULT_DLX = "picopt.dlx"
PRECONDITION_FAILED = 406


def queue_name(service: str, event_type: str) -> str:
    """One queue per (service, event type): each service gets its own copy of every event."""
    return f"{service}.{event_type}"


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}.dlq"


def origin_queue(dlq: str) -> str:
    """The consumer queue a dead-letter queue belongs to."""
    return dlq.removesuffix(".dlq")


def retry_exchange_name(exchange: str) -> str:
    return f"{exchange}.retry"


def delay_queue_name(exchange: str, delay_ms: int) -> str:
    return f"{exchange}.retry.{delay_ms}ms"


def quorum_args(**extra: Any) -> dict[str, Any]:
    # at-least-once: a broker-side dead-lettering (delivery limit, TTL) is confirmed by the
    # target queue before the source drops the message; it requires reject-publish overflow.
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        **extra,
    }


def dead_letter_queue_args(ttl_ms: int) -> dict[str, Any]:
    return {"x-queue-type": "quorum", "x-message-ttl": ttl_ms}


def declare_exchanges(channel: Any, exchange: str, dlx: str) -> None:
    channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
    channel.exchange_declare(exchange=dlx, exchange_type="direct", durable=True)
    channel.exchange_declare(
        exchange=retry_exchange_name(exchange), exchange_type="headers", durable=True
    )


def declare_delay_queues(channel: Any, exchange: str, levels_ms: list[int]) -> None:
    """One shared delay queue per backoff level (all consumers of the exchange use them)."""
    for delay_ms in levels_ms:
        channel.queue_declare(
            queue=delay_queue_name(exchange, delay_ms),
            durable=True,
            arguments=quorum_args(
                **{
                    "x-message-ttl": delay_ms,
                    "x-dead-letter-exchange": retry_exchange_name(exchange),
                }
            ),
        )


def declare_subscription(
    connection: pika.BlockingConnection,
    *,
    exchange: str,
    dlx: str,
    queue: str,
    routing_key: str,
    delivery_limit: int,
    dlq_ttl_ms: int,
) -> None:
    """Main queue bound to its events and to the retry exchange, plus its DLQ on the dlx."""
    ensure_queue(
        connection,
        dead_letter_queue_name(queue),
        dead_letter_queue_args(dlq_ttl_ms),
        bindings=[(dlx, queue)],
    )
    channel = connection.channel()
    try:
        channel.queue_declare(
            queue=queue,
            durable=True,
            arguments=quorum_args(
                **{
                    "x-dead-letter-exchange": dlx,
                    "x-dead-letter-routing-key": queue,
                    "x-delivery-limit": delivery_limit,
                }
            ),
        )
        channel.queue_bind(queue=queue, exchange=exchange, routing_key=routing_key)
        channel.queue_bind(
            queue=queue,
            exchange=retry_exchange_name(exchange),
            arguments={"x-match": "all", headers.RETRY_TO: queue},
        )
    finally:
        if channel.is_open:
            channel.close()
