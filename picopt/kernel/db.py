"""Per-service database access, migrations and the kernel's own tables.

Each service owns its data: on PostgreSQL it gets its own schema (tables, sequences and
``alembic_version`` included), on a one-machine run its own SQLite file. Services never read
each other's tables; they talk through gRPC and events.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

log = structlog.get_logger(__name__)

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Long enough that a service's processes queue behind a migration or a relay batch instead
# of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 60_000
_READONLY = "picopt_readonly"
# A pooled PostgreSQL connection unused this long is checked with a round trip before use (the
# server may have restarted or failed over meanwhile); one in steady use is not.
IDLE_PING_AFTER_S = 10.0
_RETURNED_AT = "picopt_returned_at"


def utcnow() -> datetime:
    """Timezone-aware now; one helper so every kernel timestamp is UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored timestamp is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class MigrationError(RuntimeError):
    """The schema could not be brought up to date; the log says why."""


class KernelBase(DeclarativeBase):
    """Tables the kernel itself needs in every service database (outbox, processed_events)."""


class OutboxRow(KernelBase):
    """An event written in the producer's business transaction, published later by the relay."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    event_type: Mapped[str] = mapped_column(sa.String(200))
    envelope: Mapped[bytes] = mapped_column(sa.LargeBinary())
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(
        sa.DateTime(timezone=True), nullable=True, default=None
    )

    __table_args__ = (sa.Index("ix_outbox_pending", "published_at", "id"),)


class ProcessedEvent(KernelBase):
    """Event ids a consumer queue already handled, so redeliveries are dropped exactly once."""

    __tablename__ = "processed_events"

    queue: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)


def create_kernel_tables(op: Any) -> None:
    """Create the kernel tables from a service's initial alembic migration (``upgrade``)."""
    KernelBase.metadata.create_all(op.get_bind(), checkfirst=False)


def drop_kernel_tables(op: Any) -> None:
    """Drop the kernel tables from a service's initial alembic migration (``downgrade``)."""
    KernelBase.metadata.drop_all(op.get_bind(), checkfirst=True)


def mask_url(url: str | URL) -> str:
    """Render a database or broker URL with the password hidden, for logs and errors."""
    text = str(url) if isinstance(url, URL) else url
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", text)


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for bare PostgreSQL URLs (the only PG driver we ship)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url(
    service: str, env: Mapping[str, str] = os.environ, var_dir: Path = Path("var")
) -> str:
    """<SERVICE>_DATABASE_URL, else DATABASE_URL, else a SQLite file under var_dir."""
    specific = env.get(f"{service.upper()}_DATABASE_URL")
    url = specific or env.get("DATABASE_URL") or f"sqlite:///{var_dir / f'{service}.db'}"
    return normalize_url(url)


def _advisory_key(schema: str) -> int:
    """Stable signed 64-bit lock key per schema (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(f"picopt.migrate:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Database:
    """One service's database: SQLite file for one-machine runs, a PostgreSQL schema otherwise.

    Engines hide statement parameters: a database error's text (which ends up in
    `grpc_unhandled_error` and consumer logs) never carries the emails, names or password
    hashes a statement was sent with.
    """

    def __init__(self, url: str, schema: str) -> None:
        if not _SCHEMA_RE.match(schema):
            raise ValueError(f"invalid schema name {schema!r}: use [a-z_][a-z0-9_]*")
        self.url = make_url(normalize_url(url))
        self.schema = schema
        backend = self.url.get_backend_name()
        if backend == "postgresql":
            self.dialect = "postgresql"
            self.engine = self._postgres_engine()
        elif backend == "sqlite":
            self.dialect = "sqlite"
            self.engine = self._sqlite_engine()
        else:
            raise ValueError(f"unsupported database {mask_url(self.url)}")
        self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        readonly_options: dict[str, Any] = {_READONLY: True}
        if self.dialect == "postgresql":
            # The transaction opens as BEGIN READ ONLY: no extra round trip to say so.
            readonly_options["postgresql_readonly"] = True
        self._readonly_sessions = sessionmaker(
            bind=self.engine.execution_options(**readonly_options), expire_on_commit=False
        )

    def _postgres_engine(self) -> sa.Engine:
        engine = sa.create_engine(
            self.url,
            hide_parameters=True,
            # A server that does not answer fails a connection in seconds, not minutes
            # (readiness checks and requests must not hang on it).
            connect_args={"options": f"-csearch_path={self.schema}", "connect_timeout": 5},
        )
        schema = self.schema
        _ping_when_idle(engine)

        @event.listens_for(engine, "first_connect")
        def _create_schema(dbapi_connection: Any, _record: Any) -> None:
            # Concurrent CREATE SCHEMA IF NOT EXISTS can still collide on the catalog's unique
            # index; a lost race means the schema exists, which is all we need.
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                dbapi_connection.commit()
            except Exception:
                dbapi_connection.rollback()
                cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
                if cursor.fetchone() is None:
                    raise
            finally:
                cursor.close()

        return engine

    def _sqlite_engine(self) -> sa.Engine:
        path = self.url.database
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            self.url,
            hide_parameters=True,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Deleted content is overwritten with zeros, so an erased row's bytes do not linger
            # in free pages (the WAL is emptied after an erasure: picopt.kernel.scrub).
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            # IMMEDIATE takes the write lock up front: a deferred transaction that reads and
            # then writes fails at once (SQLITE_BUSY, no busy wait) when another process
            # committed in between, which happens constantly with several workers. Read-only
            # sessions stay deferred so, under WAL, they never wait behind a writer.
            readonly = conn.get_execution_options().get(_READONLY, False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine

    @contextlib.contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """One transaction: commit on success, rollback on exception, always close.

        readonly=True is for read paths (status queries): on SQLite they then do not queue
        behind a long write transaction; on PostgreSQL it makes writes fail.
        """
        session = (self._readonly_sessions if readonly else self._sessions)()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def migrate(self, migrations_dir: Path) -> None:
        """Upgrade to head; safe when several processes of the service start at once."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(migrations_dir))
        with self._migration_lock(), self.engine.begin() as connection:
            if self.dialect == "postgresql":
                # Transaction-scoped: released by the commit that also publishes the new tables,
                # so the next process sees them when it gets the lock.
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": _advisory_key(self.schema)},
                )
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        log.info("database_migrated", schema=self.schema, dialect=self.dialect)

    def migrate_in_child(self, migrations_dir: Path) -> None:
        """`migrate` in a forked child: a long-lived service then never loads alembic and its
        migration modules, about 20 MB it would keep resident for nothing. In this process
        where there is no fork."""
        if not hasattr(os, "fork"):
            self.migrate(migrations_dir)
            return
        self.engine.dispose()  # no pooled connection is shared with the child
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            code = 1
            try:
                self.migrate(migrations_dir)
                self.engine.dispose()
                code = 0
            except BaseException:
                log.exception("database_migration_failed", schema=self.schema)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise MigrationError(f"migrating schema {self.schema!r} failed (see the log)")

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        path = self.url.database if self.dialect == "sqlite" else None
        if not path or path == ":memory:" or path.startswith("file:"):
            yield
            return
        import fcntl  # POSIX only; one-machine runs are Linux/macOS.

        with open(f"{path}.migrate.lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def ping(self) -> None:
        """One round trip to the database; raises when it does not answer (readiness)."""
        with self.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        """Close pooled connections (call before fork and at shutdown)."""
        self.engine.dispose()


def _ping_when_idle(engine: sa.Engine) -> None:
    """Pessimistic disconnect handling for connections that sat idle only: a round trip per
    checkout (SQLAlchemy's pool_pre_ping) was a tenth of a busy service's CPU. A connection
    broken while in use fails that one call, and SQLAlchemy then drops the whole pool."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned < IDLE_PING_AFTER_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool closes it and checks out another.
            raise sa.exc.DisconnectionError("idle connection is gone") from exc


def run_alembic_env(target_metadata: sa.MetaData | Sequence[sa.MetaData]) -> None:
    """The whole body of a service's migrations/env.py.

    Database.migrate passes an open connection (already pointed at the service's schema).
    For ``alembic`` on the command line, set ``sqlalchemy.url`` and ``picopt.schema`` main
    options instead.
    """
    from alembic import context

    metadatas = (
        [target_metadata] if isinstance(target_metadata, sa.MetaData) else list(target_metadata)
    )
    metadatas.append(KernelBase.metadata)
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        url = config.get_main_option("sqlalchemy.url")
        schema = config.get_main_option("picopt.schema")
        if not url or not schema:
            raise RuntimeError(
                "run migrations with Database.migrate, or set sqlalchemy.url and picopt.schema"
            )
        db = Database(url, schema)
        try:
            with db.engine.begin() as own_connection:
                _run_migrations(context, own_connection, metadatas)
        finally:
            db.dispose()
        return
    _run_migrations(context, connection, metadatas)


def _run_migrations(context: Any, connection: sa.Connection, metadatas: list[sa.MetaData]) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadatas,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
