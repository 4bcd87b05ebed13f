"""Database against real SQLite files and the loopback PostgreSQL (one schema per test)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog

from picopt.kernel import db as db_module
from picopt.kernel import logs
from picopt.kernel.db import Database, database_url, mask_url
from picopt.kernel.tests.demo_models import Widget

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MIGRATIONS = Path(__file__).parent / "demo_migrations"
REPO_ROOT = Path(__file__).resolve().parents[3]


def _drop_schema(schema: str) -> None:
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield schema
    _drop_schema(schema)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'nested' / 'demo.db'}"


def _tables(db: Database) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_database_url_precedence_and_normalization(tmp_path: Path) -> None:
    assert database_url("auth", env={}, var_dir=tmp_path) == f"sqlite:///{tmp_path / 'auth.db'}"
    env = {"DATABASE_URL": "postgres://u:p@h/db"}
    assert database_url("auth", env=env) == "postgresql+psycopg://u:p@h/db"
    env["AUTH_DATABASE_URL"] = "postgresql://a@h/auth"
    assert database_url("auth", env=env) == "postgresql+psycopg://a@h/auth"
    assert database_url("billing", env=env) == "postgresql+psycopg://u:p@h/db"
    assert mask_url("amqp://guest:secret@h:5672/%2F") == "amqp://guest:***@h:5672/%2F"


def test_rejects_unsafe_schema_name() -> None:
    with pytest.raises(ValueError):
        Database(PG_URL, 'x"; DROP SCHEMA public; --')


def test_sqlite_migrates_twice_with_pragmas(sqlite_url: str) -> None:
    db = Database(sqlite_url, "demo")
    try:
        assert db.dialect == "sqlite"
        db.migrate(MIGRATIONS)
        db.migrate(MIGRATIONS)
        assert {"widgets", "outbox", "processed_events", "alembic_version"} <= _tables(db)
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            busy_timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            assert busy_timeout is not None and busy_timeout >= 1000
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [
                ("0001",)
            ]
    finally:
        db.dispose()


def test_postgres_migrates_twice_into_own_schema(pg_schema: str) -> None:
    db = Database(PG_URL.replace("postgresql+psycopg://", "postgresql://"), pg_schema)
    try:
        assert db.dialect == "postgresql"
        db.migrate(MIGRATIONS)
        db.migrate(MIGRATIONS)
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": pg_schema},
            ).scalars()
            assert {"widgets", "outbox", "processed_events", "alembic_version"} <= set(rows)
            assert conn.execute(sa.text("SHOW search_path")).scalar() == pg_schema
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
                ("0001",)
            ]
    finally:
        db.dispose()


def test_session_commits_or_rolls_back(sqlite_url: str) -> None:
    db = Database(sqlite_url, "demo")
    try:
        db.migrate(MIGRATIONS)
        with db.session() as session:
            session.add(Widget(name="kept"))
        with pytest.raises(RuntimeError), db.session() as session:
            session.add(Widget(name="dropped"))
            session.flush()
            raise RuntimeError("boom")
        with db.session() as session:
            assert session.scalars(sa.select(Widget.name)).all() == ["kept"]
    finally:
        db.dispose()


def _migrate_concurrently(url: str, schema: str, processes: int = 2) -> None:
    code = (
        "import sys; from pathlib import Path; from picopt.kernel.db import Database; "
        "db = Database(sys.argv[1], sys.argv[2]); db.migrate(Path(sys.argv[3])); db.dispose()"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url, schema, str(MIGRATIONS)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(processes)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out.decode()


def test_concurrent_migrations_sqlite(sqlite_url: str) -> None:
    _migrate_concurrently(sqlite_url, "demo")
    db = Database(sqlite_url, "demo")
    try:
        assert {"widgets", "outbox", "processed_events"} <= _tables(db)
    finally:
        db.dispose()


def test_concurrent_migrations_postgres(pg_schema: str) -> None:
    _migrate_concurrently(PG_URL, pg_schema)
    db = Database(PG_URL, pg_schema)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
                ("0001",)
            ]
    finally:
        db.dispose()


def test_sqlite_readonly_session_does_not_wait_for_writer(sqlite_url: str) -> None:
    db = Database(sqlite_url, "demo")
    try:
        db.migrate(MIGRATIONS)
        with db.session() as writer:
            writer.add(Widget(name="uncommitted"))
            writer.flush()  # holds the write lock until the block ends
            started = time.monotonic()
            with db.session(readonly=True) as reader:
                assert reader.scalars(sa.select(Widget.name)).all() == []
            assert time.monotonic() - started < 1.0
    finally:
        db.dispose()


def test_postgres_readonly_session_refuses_writes(pg_schema: str) -> None:
    db = Database(PG_URL, pg_schema)
    try:
        db.migrate(MIGRATIONS)
        with pytest.raises(sa.exc.InternalError), db.session(readonly=True) as session:
            session.add(Widget(name="nope"))
            session.flush()
    finally:
        db.dispose()


def _backend_pid(db: Database) -> int:
    with db.session(readonly=True) as session:
        return int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    engine.dispose()


def test_postgres_idle_connection_killed_by_the_server_is_replaced_unnoticed(
    pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that sat in the pool (across a server restart, say) is checked before use;
    one in steady use is not (no round trip per session)."""
    db = Database(PG_URL, pg_schema)
    try:
        db.migrate(MIGRATIONS)
        first = _backend_pid(db)
        assert _backend_pid(db) == first  # reused
        _terminate(first)
        monkeypatch.setattr(db_module, "IDLE_PING_AFTER_S", 0.0)
        replaced = _backend_pid(db)
        assert replaced != first
        monkeypatch.setattr(db_module, "IDLE_PING_AFTER_S", 3600.0)
        _terminate(replaced)
        # Not idle long enough to be checked: this call fails, and the pool starts afresh.
        with pytest.raises(sa.exc.OperationalError):
            _backend_pid(db)
        assert _backend_pid(db) not in (first, replaced)
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_errors_and_their_log_lines_carry_no_values(
    backend: str, sqlite_url: str, pg_schema: str
) -> None:
    """An IntegrityError (say, two sign-ins racing) logged as grpc_unhandled_error names no
    email, name or hash: neither the statement's parameters nor the row PostgreSQL quotes
    (issue 13 item 6)."""
    db = Database(sqlite_url if backend == "sqlite" else PG_URL, pg_schema)
    db.migrate(MIGRATIONS)
    stream = io.StringIO()
    logs.configure("test", "debug", stream=stream)
    row = {"e": "ada.lovelace@example.test", "h": "argon2xyz"}
    try:
        with db.session() as s:
            s.execute(sa.text("CREATE TABLE people (email VARCHAR(100) UNIQUE, hash VARCHAR(9))"))
            s.execute(sa.text("INSERT INTO people VALUES (:e, :h)"), row)
        with pytest.raises(sa.exc.IntegrityError) as raised, db.session() as s:
            s.execute(sa.text("INSERT INTO people VALUES (:e, :h)"), row)
        try:
            raise raised.value
        except sa.exc.IntegrityError:
            logs.get_logger("x").exception("grpc_unhandled_error")
    finally:
        structlog.reset_defaults()
        db.dispose()
    assert "argon2xyz" not in str(raised.value)  # the parameters are hidden at the source
    logged = stream.getvalue()
    assert "grpc_unhandled_error" in logged and "IntegrityError" in logged
    assert "ada.lovelace" not in logged and "argon2xyz" not in logged


MIGRATE_PROBE = """
import sys
import sqlalchemy as sa
from pathlib import Path
from picopt.kernel.db import Database, MigrationError

for url, migrations in zip(sys.argv[1::2], sys.argv[2::2]):
    db = Database(url, "demo")
    try:
        db.migrate_in_child(Path(migrations))
    except MigrationError as exc:
        print("RESULT failed:", exc)
    else:
        print("RESULT", sorted(sa.inspect(db.engine).get_table_names()))
print("RESULT alembic loaded:", "alembic" in sys.modules)
"""


def test_a_service_migrates_in_a_child_and_never_loads_alembic(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The ~20 MB alembic and the migration modules take stay out of the long-lived process;
    a failed migration still stops the start."""
    broken = tmp_path / "broken"
    shutil.copytree(MIGRATIONS, broken)
    (broken / "versions" / "0001_initial.py").write_text("raise RuntimeError('bad migration')\n")
    args = [sqlite_url, str(MIGRATIONS), f"sqlite:///{tmp_path / 'other.db'}", str(broken)]
    probe = subprocess.run(
        [sys.executable, "-c", MIGRATE_PROBE, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    tables, failed, alembic = [
        line.removeprefix("RESULT ")
        for line in probe.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    assert "'widgets'" in tables and "'outbox'" in tables, tables
    assert failed.startswith("failed: migrating schema 'demo' failed"), failed
    assert alembic == "alembic loaded: False"
