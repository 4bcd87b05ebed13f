"""Building event envelopes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf.message import Message

from picopt.events.v1 import events_pb2
from picopt.kernel import tracing

CONTENT_TYPE = "application/x-protobuf"


def new_envelope(
    event_type: str, payload: Message, producer: str, traceparent: str = ""
) -> events_pb2.Envelope:
    """Wrap a payload with a fresh event id (the consumers' dedup key) and the current time.

    The envelope carries `traceparent`, by default the current span's, so the
    consumers' work continues the trace that caused the event.
    """
    envelope = events_pb2.Envelope(
        event_id=str(uuid.uuid4()),
        type=event_type,
        traceparent=traceparent or tracing.current_traceparent(),
        payload=payload.SerializeToString(),
        producer=producer,
    )
    envelope.occurred_at.FromDatetime(datetime.now(UTC))
    return envelope
