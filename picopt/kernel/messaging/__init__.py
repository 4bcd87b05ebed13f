"""Event bus: envelopes, confirmed publishing, transactional outbox, consumers, dead letters."""

from picopt.kernel.messaging.catalog import EVENTS, EventKind, may_go_unrouted
from picopt.kernel.messaging.consumer import (
    Consumer,
    HandlerContext,
    Subscription,
    TopologyMismatchError,
)
from picopt.kernel.messaging.deadletters import (
    DeadLetter,
    DeadLetterQueues,
    QueueDepth,
    dead_letter_depths,
)
from picopt.kernel.messaging.envelope import CONTENT_TYPE, new_envelope
from picopt.kernel.messaging.outbox import (
    Outbox,
    OutboxRelay,
    delete_kernel_rows,
    purge_kernel_tables,
)
from picopt.kernel.messaging.policy import DeadLetterPolicy, OutboxPolicy, RetryPolicy
from picopt.kernel.messaging.publisher import Publisher, PublishError, UnroutableError
from picopt.kernel.messaging.topology import (
    DEFAULT_DLX,
    DEFAULT_EXCHANGE,
    dead_letter_queue_name,
    queue_name,
)
from picopt.kernel.messaging.transient import PermanentError, TransientError, is_transient

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_DLX",
    "DEFAULT_EXCHANGE",
    "EVENTS",
    "Consumer",
    "DeadLetter",
    "DeadLetterPolicy",
    "DeadLetterQueues",
    "EventKind",
    "HandlerContext",
    "Outbox",
    "OutboxPolicy",
    "OutboxRelay",
    "PermanentError",
    "PublishError",
    "Publisher",
    "QueueDepth",
    "RetryPolicy",
    "Subscription",
    "TopologyMismatchError",
    "TransientError",
    "UnroutableError",
    "dead_letter_depths",
    "dead_letter_queue_name",
    "delete_kernel_rows",
    "is_transient",
    "may_go_unrouted",
    "new_envelope",
    "purge_kernel_tables",
    "queue_name",
]
