"""Event bus: envelopes, confirmed publishing, transactional outbox and consumers."""

from picopt.kernel.messaging.consumer import (
    Consumer,
    HandlerContext,
    PermanentError,
    Subscription,
    TopologyMismatchError,
)
from picopt.kernel.messaging.envelope import CONTENT_TYPE, new_envelope
from picopt.kernel.messaging.outbox import Outbox, OutboxRelay, purge_kernel_tables
from picopt.kernel.messaging.publisher import Publisher, PublishError, UnroutableError
from picopt.kernel.messaging.topology import (
    DEFAULT_DLX,
    DEFAULT_EXCHANGE,
    dead_letter_queue_name,
    queue_name,
    retry_queue_name,
)

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_DLX",
    "DEFAULT_EXCHANGE",
    "Consumer",
    "HandlerContext",
    "Outbox",
    "OutboxRelay",
    "PermanentError",
    "PublishError",
    "Publisher",
    "Subscription",
    "TopologyMismatchError",
    "UnroutableError",
    "dead_letter_queue_name",
    "new_envelope",
    "purge_kernel_tables",
    "queue_name",
    "retry_queue_name",
]
