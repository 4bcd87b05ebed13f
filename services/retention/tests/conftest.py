"""Retention unit fixtures: a migrated SQLite database, a real encrypted blob store."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from picopt.events.v1 import events_pb2
from picopt.kernel.blobstore import EnvelopeCipher, FilesystemBlobStore
from picopt.kernel.db import Database, OutboxRow
from picopt.kernel.messaging import HandlerContext
from picopt.kernel.settings import Env, MasterKeys, key_id
from services.retention.__main__ import MIGRATIONS
from services.retention.policy import RetentionPolicy


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'retention.db'}", schema="retention")
    database.migrate(MIGRATIONS)
    yield database
    database.dispose()


def master_keys(*keys: bytes) -> MasterKeys:
    return MasterKeys(current_id=key_id(keys[0]), keys={key_id(k): k for k in keys})


@pytest.fixture
def blobs(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(
        tmp_path / "blobs", EnvelopeCipher(master_keys(secrets.token_bytes(32)))
    )


def policy(**env: str) -> RetentionPolicy:
    return RetentionPolicy.from_env(Env(env))


def outbox_events(db: Database, event_type: str) -> list[events_pb2.Envelope]:
    with db.session(readonly=True) as s:
        rows = s.scalars(select(OutboxRow).where(OutboxRow.event_type == event_type))
        return [events_pb2.Envelope.FromString(r.envelope) for r in rows]


def deliver(db: Database, handler: object, payload: object) -> None:
    """Run an event handler in a transaction, as the consumer does."""
    with db.session() as s:
        handler(HandlerContext(events_pb2.Envelope(), payload, s, 1))  # type: ignore[operator,arg-type]
