"""An erasure's rows leave the database files: SQLite (secure_delete, WAL emptied) and PostgreSQL
(the tables it wrote to are vacuumed), each against a real database."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database
from picopt.kernel.messaging import HandlerContext, Outbox
from picopt.kernel.privacy import PrivacyParticipant
from picopt.kernel.tests.demo_models import Widget
from picopt.kernel.tests.test_db import MIGRATIONS, PG_URL

PERSON = "zelda.scrubbed@example.test"


def erase_widgets(s: Any, user_id: str) -> dict[str, int]:
    """The demo service's row about user `u-1` is the one naming the person."""
    assert user_id == "u-1"
    gone = s.execute(sa.delete(Widget).where(Widget.name == PERSON))
    return {"widgets": int(gone.rowcount or 0)}


def participant() -> PrivacyParticipant:
    return PrivacyParticipant("demo", Outbox("demo"), erase_widgets, None, lambda _: {})


def fill(db: Database) -> None:
    """The person among many others, updated once (a dead row version on PostgreSQL)."""
    with db.session() as s:
        s.add_all([Widget(name=f"someone.{i}@example.test") for i in range(300)])
        s.add(Widget(name=PERSON.upper()))
    with db.session() as s:
        s.execute(sa.update(Widget).where(Widget.name == PERSON.upper()).values(name=PERSON))


def erase(db: Database) -> None:
    with db.session() as s:
        event = events_pb2.AccountErase(user_id="u-1", request_id="r1")
        participant().on_erase(HandlerContext(events_pb2.Envelope(), event, s, 1))


def wait_until(predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'demo.db'}", schema="demo")
    db.migrate(MIGRATIONS)
    yield db
    db.dispose()


def files_naming(directory: Path, needle: str) -> list[str]:
    return [
        p.name
        for p in directory.iterdir()
        if p.is_file() and needle.encode().lower() in p.read_bytes().lower()
    ]


def test_sqlite_files_hold_no_byte_of_an_erased_row(sqlite_db: Database, tmp_path: Path) -> None:
    fill(sqlite_db)
    assert files_naming(tmp_path, PERSON), "the WAL holds the row before the erasure"
    erase(sqlite_db)
    assert wait_until(lambda: not files_naming(tmp_path, PERSON)), files_naming(tmp_path, PERSON)
    with sqlite_db.session(readonly=True) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Widget)) == 300
        assert s.execute(sa.text("PRAGMA secure_delete")).scalar() == 1


@pytest.fixture
def pg_db() -> Iterator[Database]:
    """A database of its own: an open transaction elsewhere in a shared one would keep the
    dead row versions alive (VACUUM removes what no transaction of the database can see)."""
    name = f"picopt_scrub_{uuid.uuid4().hex[:10]}"
    admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(f"{PG_URL.rsplit('/', 1)[0]}/{name}", schema="demo")
    db.migrate(MIGRATIONS)
    yield db
    db.dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def dead_row_versions(db: Database, table: str) -> int:
    """Exact count of dead row versions in a table (pgstattuple reads every page)."""
    with db.engine.connect() as conn:
        query = sa.text("SELECT dead_tuple_count FROM public.pgstattuple(:table)")
        return int(conn.execute(query, {"table": table}).scalar_one())


def vacuumed_tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(
            conn.execute(
                sa.text(
                    "SELECT relname FROM pg_stat_user_tables"
                    " WHERE schemaname = :schema AND last_vacuum IS NOT NULL"
                ),
                {"schema": db.schema},
            ).scalars()
        )


def test_postgres_vacuums_the_tables_an_erasure_wrote_to(pg_db: Database) -> None:
    with pg_db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE EXTENSION pgstattuple SCHEMA public")
    fill(pg_db)
    with pg_db.session() as s:  # an earlier row version of the person is dead already
        assert s.scalar(sa.select(sa.func.count()).where(Widget.name == PERSON)) == 1
    assert dead_row_versions(pg_db, "widgets") >= 1
    erase(pg_db)
    assert wait_until(lambda: vacuumed_tables(pg_db) == {"widgets", "outbox"})
    # No version of the erased row is left for any query, index or snapshot to reach.
    assert dead_row_versions(pg_db, "widgets") == 0
    with pg_db.session(readonly=True) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Widget)) == 300
