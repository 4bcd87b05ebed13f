"""Erased rows leave the database files, not only the tables.

A DELETE marks rows free; their bytes stay in the file until overwritten. SQLite
runs with `secure_delete` (freed content is zeroed, see `picopt.kernel.db`), but
the write-ahead log still holds the old page images: after an erasure commits,
`wal_checkpoint(TRUNCATE)` writes the zeroed pages back and empties the log. On
PostgreSQL, dead row versions stay in heap and index pages until vacuumed: the
tables an erasure wrote to are vacuumed after it commits.

The work runs on one background thread per database, so a long VACUUM never
holds a consumer (or its broker heartbeat): erasures committed while one batch
is scrubbed are scrubbed together in the next one. Each batch runs once more a
little later: a transaction that was open in the database during the first
pass keeps the dead versions it could still see, and the second pass removes
them once it has ended.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from picopt.kernel.logs import get_logger
from picopt.kernel.metrics import after_commit

log = get_logger(__name__)

_WRITTEN = "picopt_written_tables"
_CHECKPOINT_ATTEMPTS = 20
SECOND_PASS_AFTER_S = 30.0


def track_writes(session: Session) -> set[str]:
    """Record every table the session's transaction writes to from now on (the set grows)."""
    tables: set[str] = session.info.setdefault(_WRITTEN, set())
    return tables


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    tables = session.info.get(_WRITTEN)
    if tables is None:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__table__", None)
        if isinstance(table, sa.Table):
            tables.add(table.name)


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    tables = state.session.info.get(_WRITTEN)
    if tables is None or not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if isinstance(table, sa.Table):
        tables.add(table.name)


def scrub_after_commit(session: Session) -> None:
    """Once the session commits, scrub the tables it wrote to (call after `track_writes`)."""
    tables = track_writes(session)
    engine = session.get_bind().engine  # type: ignore[union-attr]
    after_commit(session, lambda: scrubber(engine).request(tables))


class Scrubber:
    """Scrubs one database's files in the background, batching requests that pile up."""

    def __init__(self, engine: sa.Engine, second_pass_after_s: float = SECOND_PASS_AFTER_S) -> None:
        self.engine = engine
        self.second_pass_after_s = second_pass_after_s
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches = 0

    def request(self, tables: set[str], second_pass: bool = True) -> None:
        if second_pass:
            later = threading.Timer(self.second_pass_after_s, self.request, (set(tables), False))
            later.daemon = True
            later.start()
        with self._lock:
            self._pending |= tables
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="scrubber", daemon=True)
                self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                tables, self._pending = self._pending, set()
            try:
                self.scrub(tables)
            except Exception:
                log.exception("scrub_failed", tables=len(tables))

    def scrub(self, tables: set[str]) -> None:
        """Run the database's own way of removing erased bytes from its files, now."""
        if self.engine.dialect.name == "sqlite":
            self._checkpoint()
        else:
            preparer = self.engine.dialect.identifier_preparer
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in sorted(tables):
                    conn.exec_driver_sql(f"VACUUM {preparer.quote(table)}")
        self.batches += 1
        log.info("erased_rows_scrubbed", dialect=self.engine.dialect.name, tables=len(tables))

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it; wait out readers briefly."""
        for attempt in range(_CHECKPOINT_ATTEMPTS):
            raw: Any = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                busy, _log_frames, _done = cursor.execute(
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).fetchone()
                cursor.close()
            finally:
                raw.close()
            if not busy:
                return
            time.sleep(min(0.05 * 2**attempt, 2.0))
        log.warning("wal_checkpoint_busy", attempts=_CHECKPOINT_ATTEMPTS)


_scrubbers: dict[int, Scrubber] = {}
_scrubbers_lock = threading.Lock()


def scrubber(engine: sa.Engine) -> Scrubber:
    """The one scrubber of this engine's database in this process."""
    with _scrubbers_lock:
        found = _scrubbers.get(id(engine))
        if found is None or found.engine is not engine:
            found = _scrubbers[id(engine)] = Scrubber(engine)
        return found
