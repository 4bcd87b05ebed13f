"""Building event envelopes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf.message import Message

from picopt.events.v1 import events_pb2

CONTENT_TYPE = "application/x-protobuf"


def new_envelope(
    event_type: str, payload: Message, producer: str, traceparent: str = ""
) -> events_pb2.Envelope:
    """Wrap a payload with a fresh event id (the consumers' dedup key) and the current time."""
    envelope = events_pb2.Envelope(
        event_id=str(uuid.uuid4()),
        type=event_type,
        traceparent=traceparent,
        payload=payload.SerializeToString(),
        producer=producer,
    )
    envelope.occurred_at.FromDatetime(datetime.now(UTC))
    return envelope
