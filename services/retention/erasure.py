"""Retention's own part of erasure and log purge.

Blobs carry their owner, so erasing needs no event history: uploads, results
and export archives of the user are deleted (and verified gone) wherever they
are. Request records and the deletion audit log stay: they hold ids, times and
counts only, and are the proof that the erasure happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from services.retention.deleter import Deleter
from services.retention.models import DataExport, SweepRun, TrackedObject
from services.retention.sessions import Sessions


@dataclass
class RetentionData:
    deleter: Deleter
    sessions: Sessions

    def erase(self, s: Session, user_id: str) -> dict[str, int]:
        owned = [info.key for info in self.deleter.blobs.list() if info.owner == user_id]
        deleted = sum(self.deleter.delete_object(s, key, "account_erased") for key in owned)
        exports = s.execute(delete(DataExport).where(DataExport.user_id == user_id))
        return {
            "blobs": deleted,
            "data_exports": int(exports.rowcount or 0),  # type: ignore[attr-defined]
            **self.sessions.erase(s, user_id),
        }

    def purge(self, s: Session, older_than: datetime) -> dict[str, int]:
        """Bookkeeping of objects long gone, and old sweep runs."""
        tracked = s.execute(
            delete(TrackedObject).where(
                TrackedObject.deleted_at.is_not(None), TrackedObject.deleted_at < older_than
            )
        )
        sweeps = s.execute(delete(SweepRun).where(SweepRun.started_at < older_than))
        return {
            "tracked_objects": int(tracked.rowcount or 0),  # type: ignore[attr-defined]
            "sweep_runs": int(sweeps.rowcount or 0),  # type: ignore[attr-defined]
            **self.sessions.purge(s, older_than),
        }
