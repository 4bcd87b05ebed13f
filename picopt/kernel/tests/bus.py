"""What the kernel's broker tests share: unique exchanges and queues per test, helpers."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika

from picopt.events.v1 import events_pb2
from picopt.kernel.messaging import Consumer, Publisher, RetryPolicy, Subscription, new_envelope
from picopt.kernel.messaging.topology import delay_queue_name, retry_exchange_name

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MIGRATIONS = Path(__file__).parent / "demo_migrations"
REPO_ROOT = Path(__file__).resolve().parents[3]
JOB = "job.submitted"
# Short delays so retries take a fraction of a second in tests.
FAST_RETRY = RetryPolicy(base_s=0.05, max_delay_s=0.4)


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or predicate}")


@dataclass
class Bus:
    """Unique exchange/dlx/service names for one test, plus an admin channel."""

    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    queues: set[str] = field(default_factory=set)
    delay_queues: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.exchange = f"test.events.{self.suffix}"
        self.dlx = f"test.dlx.{self.suffix}"
        self.service = f"svc{self.suffix}"
        self.connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        self.channel = self.connection.channel()

    def consumer(self, subscriptions: list[Subscription], **kwargs: Any) -> Consumer:
        kwargs.setdefault("retry", FAST_RETRY)
        consumer = Consumer(
            AMQP_URL, self.service, subscriptions, exchange=self.exchange, dlx=self.dlx, **kwargs
        )
        self.queues.update(consumer.queues)
        self.delay_queues.update(
            delay_queue_name(self.exchange, ms) for ms in consumer.retry.levels_ms()
        )
        return consumer

    def delayed(self) -> int:
        """Messages waiting in this bus's delay queues."""
        return sum(self.count(q) for q in self.delay_queues)

    def publisher(self) -> Publisher:
        return Publisher(AMQP_URL, self.exchange)

    def publish_raw(self, body: bytes, routing_key: str = JOB) -> None:
        self.channel.basic_publish(self.exchange, routing_key, body)

    def count(self, queue: str) -> int:
        return self.channel.queue_declare(queue, passive=True).method.message_count

    def drain(self, queue: str, expected: int, timeout: float = 15.0) -> list[tuple[Any, bytes]]:
        got: list[tuple[Any, bytes]] = []

        def _get() -> bool:
            method, props, body = self.channel.basic_get(queue, auto_ack=True)
            if method is not None:
                got.append((props, body))
            return len(got) >= expected

        wait_for(_get, timeout, f"{expected} messages in {queue}")
        return got

    def close(self) -> None:
        for queue in self.queues:
            for name in (queue, f"{queue}.retry", f"{queue}.dlq", f"{queue}.dlq.migrating"):
                self.channel.queue_delete(name)
        # Consumers in other processes (consumer_proc) use the default levels.
        defaults = {delay_queue_name(self.exchange, ms) for ms in RetryPolicy().levels_ms()}
        for name in self.delay_queues | defaults:
            self.channel.queue_delete(name)
        for exchange in (self.exchange, self.dlx, retry_exchange_name(self.exchange)):
            self.channel.exchange_delete(exchange)
        self.connection.close()


@contextmanager
def running(consumer: Consumer) -> Iterator[threading.Thread]:
    consumer.declare()
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        consumer.stop()
        thread.join(15)
        assert not thread.is_alive(), "consumer did not stop"


def job(job_id: str) -> events_pb2.Envelope:
    return new_envelope(JOB, events_pb2.JobSubmitted(job_id=job_id, owner_id="o1"), "test")
