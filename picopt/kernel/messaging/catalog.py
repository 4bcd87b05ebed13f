"""Every event type on the bus, its payload and the facts the plumbing needs about it.

Routing keys are plain strings in producers and subscriptions; this table is where the
kernel learns what they carry: which payload decodes them, whether a message names
image content (its dead letters must not outlive the image promise), and whether the
event may legitimately have no queue bound (the outbox then drops it instead of
holding it forever).
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from picopt.events.v1 import events_pb2


@dataclass(frozen=True)
class EventKind:
    payload: type[Message]
    # Captions, tags or text read from an image travel in the message itself.
    image_content: bool = False
    # Announced for whoever may care; no subscriber is a normal state, not a fault.
    optional_subscribers: bool = False


EVENTS: dict[str, EventKind] = {
    "job.submitted": EventKind(events_pb2.JobSubmitted),
    "job.optimized": EventKind(events_pb2.JobOptimized),
    "job.analyzed": EventKind(events_pb2.JobAnalyzed, image_content=True),
    "job.completed": EventKind(events_pb2.JobCompleted),
    "job.failed": EventKind(events_pb2.JobFailed),
    "result.downloaded": EventKind(events_pb2.ResultDownloaded),
    "result.deleted": EventKind(events_pb2.ResultDeleted),
    # The trial moved to account.confirmed; account.created stays announced for
    # integrations and is dropped by the outbox when nothing is bound to it.
    "account.created": EventKind(events_pb2.AccountCreated, optional_subscribers=True),
    "account.confirmed": EventKind(events_pb2.AccountConfirmed),
    "account.erase": EventKind(events_pb2.AccountErase),
    "account.erased": EventKind(events_pb2.AccountErased),
    "logs.purge": EventKind(events_pb2.LogsPurge),
    "logs.purged": EventKind(events_pb2.LogsPurged),
}


def event_kind(event_type: str) -> EventKind | None:
    return EVENTS.get(event_type)


def may_go_unrouted(event_type: str) -> bool:
    """True for events that may be published while no queue is bound to them."""
    kind = EVENTS.get(event_type)
    return kind is not None and kind.optional_subscribers
