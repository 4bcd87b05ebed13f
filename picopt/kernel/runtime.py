"""One call per concern to wire a service: settings, logging, database, bus, server — go.

A service's entry point builds a `ServiceApp`, asks it for what it needs and
calls `run()`, which starts everything, waits for SIGTERM/SIGINT and stops it
all in reverse order: health goes NOT_SERVING first, consumers finish the
message in hand (or, past STOP_GRACE_S, leave it to the broker to redeliver),
the outbox relay publishes what is committed, pending spans are flushed.

While it runs, gRPC health reports readiness (picopt.kernel.health): NOT_SERVING
while its database does not answer or a consumer has lost the broker.

Cross-cutting concerns come with it: traces (OpenTelemetry, exported when
configured), Prometheus metrics on METRICS_PORT, optional mTLS on every gRPC
server and channel (GRPC_TLS_CERT/KEY/CA).
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pika.exceptions
from pika.adapters.utils.connection_workflow import AMQPConnectorException

from picopt.kernel import logs, malloc, metrics, production, tracing
from picopt.kernel.db import Database, database_url
from picopt.kernel.grpc_client import service_channel
from picopt.kernel.grpc_server import GrpcServer
from picopt.kernel.grpc_tls import TlsFiles
from picopt.kernel.health import Readiness
from picopt.kernel.messaging import (
    Consumer,
    DeadLetterPolicy,
    OutboxPolicy,
    OutboxRelay,
    Publisher,
    RetryPolicy,
    Subscription,
)
from picopt.kernel.settings import Settings

if TYPE_CHECKING:
    from picopt.kernel.blobstore import BlobStore

log = logs.get_logger(__name__)

# Stop order: refuse new calls, finish the work in hand, flush events, close storage.
_STOP_SERVER, _STOP_INTAKE, _STOP_BUS, _STOP_DB = range(4)


class _Periodic:
    """Runs a function every `interval` seconds in a daemon thread until stopped."""

    def __init__(self, name: str, interval: float, fn: Callable[[], Any]) -> None:
        self.name, self.interval, self.fn = name, interval, fn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.fn()
            except Exception:
                log.exception("periodic_task_failed", task=self.name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)


class ServiceApp:
    """The process of one service (or one worker kind of a service)."""

    def __init__(self, name: str, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        malloc.release_large_blocks()
        self.settings = Settings.load(name, env)
        logs.configure(name, self.settings.log_level)
        production.refuse_to_start_if_incomplete(name, self.settings.env)
        tracing.configure(name, env)
        self.tls = TlsFiles.from_env(self.settings.env)
        self.metrics_port = self.settings.metrics_port
        # Retries, dead letters and outbox bounds (EVENT_*, OUTBOX_*), checked at start-up.
        self.retry_policy = RetryPolicy.from_env(self.settings.env)
        self.dead_letter_policy = DeadLetterPolicy.from_env(self.settings.env)
        self.outbox_policy = OutboxPolicy.from_env(self.settings.env, self.dead_letter_policy)
        self._starters: list[Callable[[], None]] = []
        self._stoppers: list[tuple[int, Callable[[], None]]] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._failed = False
        self._blobs: BlobStore | None = None
        self._servers: list[GrpcServer] = []
        self._consumers: list[Consumer] = []
        self.readiness = Readiness(
            self.settings.env.float("HEALTH_CHECK_INTERVAL_S", 5.0), self._publish_readiness
        )
        # How long stopping consumers may take: the longest stop grace, plus a margin.
        self._intake_timeout = 60.0

    # -- resources -------------------------------------------------------

    def database(self, migrations_dir: Path) -> Database:
        """Open this service's database and bring its schema up to date."""
        db = Database(
            database_url(self.name, self.settings.env.env, self.settings.var_dir), schema=self.name
        )
        db.migrate_in_child(migrations_dir)
        self._stoppers.append((_STOP_DB, db.dispose))
        self.readiness.add("database", db.ping)
        return db

    def blobs(self) -> BlobStore:
        if self._blobs is None:
            # Imported on first use: auth and billing hold no images, and the cipher's
            # bindings cost ~8 MB resident in each process that loads them.
            from picopt.kernel.blobstore import open_blob_store

            self._blobs = open_blob_store(self.settings)
        return self._blobs

    def channel(self, service: str) -> Any:
        """A gRPC channel to another service, with the default deadline (mTLS if configured)."""
        return service_channel(self.settings, service)

    def publisher(self) -> Publisher:
        publisher = Publisher(self.settings.amqp_url)
        self._stoppers.append((_STOP_BUS, publisher.close))
        return publisher

    # -- moving parts ----------------------------------------------------

    def grpc_server(self, port: int | None = None) -> GrpcServer:
        server = GrpcServer(
            self.name,
            self.settings.grpc_host,
            self.settings.grpc_port if port is None else port,
            credentials=self.tls.server_credentials() if self.tls else None,
            health_port=self.settings.grpc_health_port,
            max_connection_age_s=self.settings.grpc_max_connection_age_s,
            keepalive_s=self.settings.grpc_keepalive_s,
        )
        self._servers.append(server)
        self._starters.append(server.start)
        self._stoppers.append((_STOP_SERVER, server.stop))
        return server

    def _publish_readiness(self, ready: bool) -> None:
        for server in self._servers:
            server.set_ready(ready)

    def consume(
        self,
        subscriptions: Sequence[Subscription],
        db: Database | None = None,
        *,
        max_attempts: int | None = None,
        **options: Any,
    ) -> Consumer:
        """Consume with the service's retry policy; `max_attempts` overrides its attempts for
        failures that are not transient."""
        options.setdefault("stop_grace_s", self.settings.env.float("STOP_GRACE_S", 15.0))
        if options["stop_grace_s"] is not None:
            self._intake_timeout = max(self._intake_timeout, options["stop_grace_s"] + 10)
        retry = self.retry_policy
        if max_attempts is not None:
            retry = dataclasses.replace(retry, max_attempts=max_attempts)
        consumer = Consumer(
            self.settings.amqp_url,
            self.name,
            subscriptions,
            db=db,
            retry=retry,
            dead_letters=self.dead_letter_policy,
            **options,
        )
        self._when_broker_answers("declare_queues", consumer.declare)
        check = f"broker:{consumer.queues[0]}"
        if self.readiness.has(check):  # another consumer of the same queues (concurrency)
            check = f"{check}#{sum(1 for c in self._consumers if c.queues == consumer.queues)}"
        self._consumers.append(consumer)
        self.readiness.add(check, lambda: consumer.connected)
        self._starters.append(lambda: self._thread(f"{self.name}-consumer", consumer.run))
        self._stoppers.append((_STOP_INTAKE, consumer.stop))
        return consumer

    def _when_broker_answers(self, what: str, call: Callable[[], Any]) -> Any:
        """Retry a start-up call while the broker is unreachable or slow (it may start after us)."""
        deadline = time.monotonic() + self.settings.env.float("AMQP_STARTUP_TIMEOUT_S", 120.0)
        delay = 0.5
        while True:
            try:
                return call()
            except (pika.exceptions.AMQPConnectionError, AMQPConnectorException, OSError) as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("broker_unavailable_retrying", step=what, error=type(exc).__name__)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def outbox_relay(self, db: Database) -> OutboxRelay:
        relay = OutboxRelay(db, self.settings.amqp_url, policy=self.outbox_policy)
        self._starters.append(relay.start)
        self._stoppers.append((_STOP_BUS, relay.stop))
        return relay

    def every(self, name: str, interval: float, fn: Callable[[], Any]) -> None:
        task = _Periodic(name, interval, fn)
        self._starters.append(task.start)
        self._stoppers.append((_STOP_INTAKE, task.stop))

    def _thread(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except Exception:
                log.exception("component_crashed", component=name)
                self._failed = True
            finally:
                self._stop.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- lifecycle -------------------------------------------------------

    def run(self) -> None:
        """Start everything, block until a signal or a crashed component, stop cleanly."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        if self.metrics_port:
            server = metrics.serve(self.metrics_port, self.settings.metrics_host)
            self._stoppers.append((_STOP_DB, server.shutdown))
        # The first verdict is published as the servers start, so no probe sees a stale one.
        self.readiness.evaluate()
        for start in self._starters:
            start()
        self.readiness.start()
        log.info("service_started", metrics_port=self.metrics_port or None)
        self._stop.wait()
        log.info("service_stopping")
        self.readiness.stop()
        for phase in (_STOP_SERVER, _STOP_INTAKE, _STOP_BUS, _STOP_DB):
            for stop in (fn for p, fn in self._stoppers if p == phase):
                try:
                    stop()
                except Exception:
                    log.exception("stop_failed")
            if phase == _STOP_INTAKE:
                for thread in self._threads:
                    thread.join(timeout=self._intake_timeout)
        log.info("service_stopped", failed=self._failed)
        tracing.shutdown()
        if self._failed:
            sys.exit(1)

    def stop(self) -> None:
        self._stop.set()
