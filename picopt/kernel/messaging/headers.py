"""Message headers the consumer, the retry queues and the dead-letter tools agree on.

None of them carries personal data: counters, times, queue names, an exception's
class (never its message) and a reason code.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pika
from pika.spec import BasicProperties

ATTEMPT = "x-attempt"  # the attempt the handler sees: failures that were not transient + 1
RETRIES = "x-retries"  # retries of any kind so far: picks the backoff level
FIRST_FAILED_AT = "x-first-failed-at"  # unix seconds of the first failure
QUEUE = "x-queue"  # the consumer queue a dead letter came from
REASON = "x-reason"  # why it was dead-lettered (permanent_error, max_attempts_exceeded, ...)
ERROR = "x-error"  # the exception's class name
DEAD_LETTERED_AT = "x-dead-lettered-at"  # unix seconds
REPLAYED = "x-replayed"  # times staff sent it back to its queue
# Matched by the retry exchange to send a delayed message back to its queue (headers
# exchanges ignore names starting with "x-").
RETRY_TO = "picopt-retry-queue"

_OURS = (ATTEMPT, RETRIES, FIRST_FAILED_AT, QUEUE, REASON, ERROR, DEAD_LETTERED_AT, REPLAYED)
# Set by the broker when it dead-letters (delivery limit, TTL): queue names, reasons, times.
_BROKER_PREFIXES = ("x-death", "x-first-death-", "x-delivery-count")


def kept_headers(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only the headers above and the broker's own: nothing else survives a dead-lettering."""
    return {
        key: value
        for key, value in (headers or {}).items()
        if key in _OURS or key.startswith(_BROKER_PREFIXES)
    }


def int_header(headers: Mapping[str, Any] | None, key: str, default: int = 0) -> int:
    try:
        return int((headers or {}).get(key, default))
    except (TypeError, ValueError):
        return default


def now_s() -> int:
    return int(time.time())


def dead_lettered_at(headers: Mapping[str, Any] | None) -> float | None:
    """Unix time it was dead-lettered: ours, else the broker's first x-death entry."""
    headers = headers or {}
    ours = int_header(headers, DEAD_LETTERED_AT)
    if ours > 0:
        return float(ours)
    deaths = headers.get("x-death")  # the most recent dead-lettering first
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        when = deaths[0].get("time")
        if isinstance(when, datetime):
            return when.timestamp()
    return None


def copy_properties(
    properties: BasicProperties, hdrs: dict[str, Any], expiration: str | None = None
) -> BasicProperties:
    """The message's identity (id, type, content type, timestamp), persistent, with new
    headers and, for a delay queue or a migrated dead letter, its own expiration."""
    return pika.BasicProperties(
        content_type=properties.content_type,
        message_id=properties.message_id,
        type=properties.type,
        timestamp=properties.timestamp,
        delivery_mode=pika.DeliveryMode.Persistent,
        headers=hdrs,
        expiration=expiration,
    )
