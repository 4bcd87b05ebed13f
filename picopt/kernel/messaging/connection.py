"""Connection settings and reconnect policy shared by publishers, relays and consumers."""

from __future__ import annotations

import random

import pika
import pika.exceptions
from pika.adapters.utils.connection_workflow import AMQPConnectorException

# Everything after which the only sane move is a fresh connection. Channel errors are included
# because a closed channel (e.g. PRECONDITION_FAILED, a lost queue leader) is not reusable.
# A handshake that times out (a broker too busy to answer) is no AMQPConnectionError in pika.
RECONNECT_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.AMQPChannelError,
    AMQPConnectorException,
    ConnectionError,
    OSError,
)
DEFAULT_HEARTBEAT = 30


def connection_parameters(
    amqp_url: str, connection_name: str, heartbeat: int = DEFAULT_HEARTBEAT
) -> pika.URLParameters:
    """URL parameters plus a heartbeat and a name that shows up in the management UI."""
    params = pika.URLParameters(amqp_url)
    params.heartbeat = heartbeat
    params.blocked_connection_timeout = 300
    params.connection_attempts = 1
    params.client_properties = {"connection_name": connection_name}
    return params


class Backoff:
    """Exponential reconnect delays with jitter, so restarted brokers are not stampeded."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self._initial = initial
        self._maximum = maximum
        self._failures = 0

    def next_delay(self) -> float:
        delay = min(self._maximum, self._initial * (2**self._failures))
        self._failures += 1
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._failures = 0
