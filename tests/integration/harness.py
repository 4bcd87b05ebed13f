"""Start the real services against the real broker and database, isolated per run.

Each run gets its own PostgreSQL database, its own RabbitMQ virtual host (so
parallel runs and a running `make up` never steal each other's messages),
its own ports, blob directory and keys.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg

from picopt.devstack import GRPC_SERVICES, Stack, free_port

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
AMQP_BASE = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")


@contextmanager
def fresh_database(name: str) -> Iterator[str]:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_vhost(name: str) -> Iterator[str]:
    """A private vhost via rabbitmqctl; the default vhost if rabbitmqctl is unavailable."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        yield f"{AMQP_BASE}/%2F"
        return
    subprocess.run([ctl, "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        [ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"{AMQP_BASE}/{quote(name, safe='')}"
    finally:
        subprocess.run([ctl, "delete_vhost", name], check=False, capture_output=True)


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
            "GATEWAY_PORT": str(free_port()),
            "GATEWAY_WORKERS": "1",
            "PROCESSOR_WORKERS": str(workers),
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
