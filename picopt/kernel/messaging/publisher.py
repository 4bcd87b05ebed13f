"""Confirmed, persistent, mandatory publishing of envelopes.

Mandatory: an event no queue is bound to comes back as `UnroutableError` (its consumer has
not declared its queue yet), except the events the catalog marks as possibly unsubscribed.
"""

from __future__ import annotations

import contextlib
import os

import pika
import pika.exceptions
import structlog
from pika.adapters.blocking_connection import BlockingChannel

from picopt.events.v1 import events_pb2
from picopt.kernel.messaging.catalog import may_go_unrouted
from picopt.kernel.messaging.connection import RECONNECT_ERRORS, connection_parameters
from picopt.kernel.messaging.envelope import CONTENT_TYPE
from picopt.kernel.messaging.topology import DEFAULT_EXCHANGE

log = structlog.get_logger(__name__)

PERSISTENT = pika.DeliveryMode.Persistent


class PublishError(Exception):
    """The broker did not take responsibility for the event (nacked, unroutable, or down)."""


class UnroutableError(PublishError):
    """No queue is bound for the event type yet, so the broker returned the message."""


class Publisher:
    """Publishes envelopes with publisher confirms, persistent delivery mode, mandatory routing.

    Not thread-safe (pika connections are not): use one per thread, or the outbox.
    """

    def __init__(
        self,
        amqp_url: str,
        exchange: str = DEFAULT_EXCHANGE,
        *,
        connection_name: str | None = None,
    ) -> None:
        self._params = connection_parameters(
            amqp_url, connection_name or f"picopt-publisher {exchange} pid={os.getpid()}"
        )
        self.exchange = exchange
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def _ensure_channel(self) -> BlockingChannel:
        if self._connection is not None and self._channel is not None and self._channel.is_open:
            # An idle connection may have been closed by the broker (missed heartbeats,
            # restart): reading pending frames now surfaces that before we write, instead of
            # after a publish whose fate is unknown.
            self._connection.process_data_events(time_limit=0)
            return self._channel
        self.close()
        self._connection = pika.BlockingConnection(self._params)
        channel = self._connection.channel()
        channel.confirm_delivery()
        channel.exchange_declare(exchange=self.exchange, exchange_type="topic", durable=True)
        self._channel = channel
        return channel

    def publish(self, envelope: events_pb2.Envelope) -> None:
        """Returns once the broker confirmed the event; reconnects once if the link dropped."""
        if not envelope.event_id or not envelope.type:
            raise ValueError("envelope needs event_id and type")
        body = envelope.SerializeToString()
        properties = pika.BasicProperties(
            content_type=CONTENT_TYPE,
            delivery_mode=PERSISTENT,
            message_id=envelope.event_id,
            type=envelope.type,
        )
        for attempt in (1, 2):
            try:
                channel = self._ensure_channel()
                channel.basic_publish(
                    exchange=self.exchange,
                    routing_key=envelope.type,
                    body=body,
                    properties=properties,
                    # An event that may have no subscriber is not returned when none is bound.
                    mandatory=not may_go_unrouted(envelope.type),
                )
                return
            except pika.exceptions.UnroutableError as exc:
                raise UnroutableError(f"no queue bound for {envelope.type!r}") from exc
            except pika.exceptions.NackError as exc:
                raise PublishError(f"broker nacked event {envelope.event_id}") from exc
            except RECONNECT_ERRORS as exc:
                self.close()
                if attempt == 2:
                    raise PublishError("broker unavailable") from exc
                log.warning(
                    "publisher_reconnecting",
                    exchange=self.exchange,
                    event_id=envelope.event_id,
                    error_type=type(exc).__name__,
                )

    def keepalive(self) -> None:
        """Answer heartbeats while idle so the broker keeps a long-lived connection open."""
        if self._connection is not None and self._connection.is_open:
            try:
                self._connection.process_data_events(time_limit=0)
            except RECONNECT_ERRORS:
                self.close()

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(*RECONNECT_ERRORS):
                connection.close()
