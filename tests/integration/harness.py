"""Start the real services against the real broker and database, isolated per run.

Each run gets its own PostgreSQL database, its own RabbitMQ virtual host (so
parallel runs and a running `make up` never steal each other's messages),
its own ports, blob directory and keys. PostgreSQL and RabbitMQ come from
TEST_POSTGRES_URL / TEST_AMQP_URL (loopback defaults); only when neither
answers and a Docker engine exists are they started with testcontainers.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import functools
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import requests
import stripe

from picopt.devstack import GRPC_SERVICES, Stack, amqp_reachable, free_port

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672"


@dataclass
class Infrastructure:
    """Where the tests find PostgreSQL (an admin URL) and RabbitMQ (a URL without vhost)."""

    postgres_admin_url: str
    amqp_base: str
    rabbitmqctl: Callable[[list[str]], None] | None


def _postgres_reachable(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def _local_rabbitmqctl(args: list[str]) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True)


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


@functools.cache
def infrastructure() -> Infrastructure:
    """Services from the environment (or loopback defaults); containers only where Docker runs."""
    postgres = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    amqp = os.environ.get("TEST_AMQP_URL", DEFAULT_AMQP_URL).rstrip("/")
    if _postgres_reachable(postgres) and amqp_reachable(f"{amqp}/%2F", timeout=15.0):
        ctl = _local_rabbitmqctl if shutil.which("rabbitmqctl") else None
        return Infrastructure(postgres, amqp, ctl)
    if not _docker_available():
        raise RuntimeError(
            "integration tests need PostgreSQL and RabbitMQ: none answers at TEST_POSTGRES_URL/"
            "TEST_AMQP_URL (defaults on 127.0.0.1) and no Docker engine is available"
        )
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    pg = PostgresContainer("postgres:15-alpine", driver=None).start()
    mq = RabbitMqContainer("rabbitmq:3.13-alpine").start()
    atexit.register(pg.stop)
    atexit.register(mq.stop)

    def container_ctl(args: list[str]) -> None:
        code, _ = mq.exec(["rabbitmqctl", *args])
        if code != 0:
            raise RuntimeError(f"rabbitmqctl {args[0]} failed in the container")

    host, port = mq.get_container_host_ip(), mq.get_exposed_port(5672)
    return Infrastructure(
        pg.get_connection_url(), f"amqp://guest:guest@{host}:{port}", container_ctl
    )


@contextmanager
def fresh_database(name: str) -> Iterator[str]:
    admin = infrastructure().postgres_admin_url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_vhost(name: str) -> Iterator[str]:
    """A private vhost, so parallel runs never share queues; the default one without rabbitmqctl."""
    infra = infrastructure()
    if infra.rabbitmqctl is None:
        yield f"{infra.amqp_base}/%2F"
        return
    infra.rabbitmqctl(["add_vhost", name])
    infra.rabbitmqctl(["set_permissions", "-p", name, "guest", ".*", ".*", ".*"])
    try:
        yield f"{infra.amqp_base}/{quote(name, safe='')}"
    finally:
        with contextlib.suppress(Exception):
            infra.rabbitmqctl(["delete_vhost", name])


@contextmanager
def running_stack(
    tmp: Path,
    extra_env: dict[str, str] | None = None,
    workers: int = 2,
    wait: tuple[str, ...] = GRPC_SERVICES,
) -> Iterator[Stack]:
    run = f"picopt_it_{uuid.uuid4().hex[:10]}"
    with fresh_database(run) as db_url, fresh_vhost(run) as amqp_url:
        env = {
            "DATABASE_URL": db_url,
            "AMQP_URL": amqp_url,
            "VAR_DIR": str(tmp / "var"),
            "BLOB_DIR": str(tmp / "blobs"),
            "MAIL_DIR": str(tmp / "mail"),
            "MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "AUTH_SECRET": secrets.token_urlsafe(32),
            "BILLING_STAFF_TOKEN": secrets.token_urlsafe(24),
            "GATEWAY_PORT": str(free_port()),
            "GATEWAY_WORKERS": "1",
            "PROCESSOR_WORKERS": str(workers),
            "PROCESSOR_API_RUNS_JOBS": "false",
            # Jobs run in the worker processes only, one at a time in each: the fault tests
            # kill one worker and watch another.
            "WORKER_CONCURRENCY": "1",
            "SESSION_COOKIE_SECURE": "false",
            "RETENTION_DOWNLOAD_GRACE": "1",
            "RETENTION_SWEEP_INTERVAL": "30",
            "WORKER_MAX_ATTEMPTS": "3",
            "LOG_LEVEL": "info",
            **(extra_env or {}),
        }
        for service in GRPC_SERVICES:
            port = free_port()
            env[f"{service.upper()}_GRPC_PORT"] = str(port)
            env[f"{service.upper()}_ADDR"] = f"127.0.0.1:{port}"
        logs = tmp / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stack = Stack.from_environment(env, log_dir=logs, echo=False)
        stack.start()
        try:
            stack.wait_healthy(timeout=90, services=wait)
            yield stack
        finally:
            stack.stop()


LOCALSTRIPE_KEY = "sk_test_localstripe"


@contextmanager
def running_localstripe(tmp: Path) -> Iterator[str]:
    """localstripe (Stripe's API for stripe-python) on a free loopback port, from scratch."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp / "localstripe.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )

        def up() -> bool:
            try:
                return requests.get(f"{url}/v1/customers", auth=(LOCALSTRIPE_KEY, ""), timeout=1).ok
            except requests.RequestException:
                return False

        try:
            deadline = time.monotonic() + 30
            while not up():
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"localstripe did not start; see {tmp / 'localstripe.log'}")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def deliver_stripe_webhooks(localstripe: str, gateway_url: str, secret: str) -> None:
    """Have localstripe sign and deliver its events to our gateway, as Stripe would."""
    requests.post(
        f"{localstripe}/_config/webhooks/picopt",
        data={"url": f"{gateway_url}/v1/billing/stripe/webhook", "secret": secret},
        timeout=5,
    ).raise_for_status()


def pay_with_test_card(client: stripe.StripeClient, intent_id: str) -> None:
    """What Stripe.js does in the browser: the card goes to Stripe, never to us."""
    card = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    client.v1.payment_intents.update(intent_id, params={"payment_method": card.id})
    client.v1.payment_intents.confirm(intent_id)
