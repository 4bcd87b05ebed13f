"""Exchange and queue layout, declared idempotently by whoever connects first."""

from __future__ import annotations

from typing import Any

from pika.adapters.blocking_connection import BlockingChannel

DEFAULT_EXCHANGE = "picopt.events"
DEFAULT_DLX = "picopt.dlx"


def queue_name(service: str, event_type: str) -> str:
    """One queue per (service, event type): each service gets its own copy of every event."""
    return f"{service}.{event_type}"


def retry_queue_name(queue: str) -> str:
    return f"{queue}.retry"


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}.dlq"


def declare_exchanges(channel: BlockingChannel, exchange: str, dlx: str) -> None:
    channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
    channel.exchange_declare(exchange=dlx, exchange_type="direct", durable=True)


def _quorum_args(**extra: Any) -> dict[str, Any]:
    # at-least-once: a broker-side dead-lettering (delivery limit, TTL) is confirmed by the
    # target queue before the source drops the message; it requires reject-publish overflow.
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        **extra,
    }


def declare_subscription(
    channel: BlockingChannel,
    *,
    exchange: str,
    dlx: str,
    queue: str,
    routing_key: str,
    retry_delay_ms: int,
    delivery_limit: int,
) -> None:
    """Main queue bound to the events, its DLQ on the dlx, and its delayed-retry queue."""
    dlq = dead_letter_queue_name(queue)
    channel.queue_declare(queue=dlq, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(queue=dlq, exchange=dlx, routing_key=queue)
    channel.queue_declare(
        queue=queue,
        durable=True,
        arguments=_quorum_args(
            **{
                "x-dead-letter-exchange": dlx,
                "x-dead-letter-routing-key": queue,
                "x-delivery-limit": delivery_limit,
            }
        ),
    )
    channel.queue_bind(queue=queue, exchange=exchange, routing_key=routing_key)
    channel.queue_declare(
        queue=retry_queue_name(queue),
        durable=True,
        arguments=_quorum_args(
            **{
                "x-message-ttl": retry_delay_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queue,
            }
        ),
    )
