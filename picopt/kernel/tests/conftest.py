"""Fixtures of the kernel tests: a private corner of the real broker, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from picopt.kernel.db import Database
from picopt.kernel.tests.bus import MIGRATIONS, PG_URL, Bus


@pytest.fixture
def bus() -> Iterator[Bus]:
    b = Bus()
    yield b
    b.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'svc.db'}", "svc")
    db.migrate(MIGRATIONS)
    yield db
    db.dispose()


@pytest.fixture
def pg_db() -> Iterator[Database]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    db = Database(PG_URL, schema)
    db.migrate(MIGRATIONS)
    yield db
    with db.engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    db.dispose()
