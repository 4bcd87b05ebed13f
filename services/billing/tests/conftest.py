"""Billing's unit tests run against the loopback PostgreSQL, one fresh schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from picopt.kernel.db import Database
from services.billing.ledger import Ledger
from services.billing.pricing import Pack, Pricing

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"

PRICING = Pricing(
    image=1,
    metadata=2,
    currency="eur",
    packs=(Pack("pack_100", "100 credits", 100, 500), Pack("pack_500", "500 credits", 500, 2000)),
)


@pytest.fixture
def db() -> Iterator[Database]:
    schema = f"billing_t_{uuid.uuid4().hex[:10]}"
    database = Database(PG_URL, schema)
    database.migrate(MIGRATIONS)
    try:
        yield database
    finally:
        database.dispose()
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def ledger(db: Database) -> Ledger:
    return Ledger(db, PRICING)


def new_user() -> str:
    return str(uuid.uuid4())


def give(ledger: Ledger, user_id: str, credits: int, key: str = "") -> None:
    with ledger.db.session() as s:
        ledger.grant(s, user_id, credits, key or f"test:{uuid.uuid4()}", "test")
