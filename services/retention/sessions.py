"""Processing sessions: a batch of uploads (one web or CLI session) with one expiry.

Retention owns them because it owns expiry; the gateway stays stateless and asks
over gRPC. A job joins a session through its options (`session_id`, checked by
the gateway, which also caps the job's deadline at the session's expiry, so the
backstop sweep honours it even if no event arrives). When a session expires or
its owner closes it, every image of its jobs, inputs and results, is deleted and
audited with reason `session_expired`; images of jobs still running are capped
at the session's end as their events arrive, and the timer deletes them then.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from picopt.kernel.db import Database, as_utc, utcnow
from picopt.kernel.errors import InvalidArgument, NotFound
from picopt.kernel.logs import get_logger
from services.retention.deleter import SESSION_EXPIRED, Deleter
from services.retention.models import ProcessingSession, SessionJob, TrackedObject
from services.retention.policy import RetentionPolicy

log = get_logger(__name__)


@dataclass(frozen=True)
class SessionView:
    id: str
    status: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    images_deleted: int


@dataclass
class Sessions:
    db: Database
    deleter: Deleter
    policy: RetentionPolicy

    def open(self, user_id: str, ttl_seconds: int = 0) -> SessionView:
        if not user_id:
            raise InvalidArgument("user_id is required", code="invalid_user_id")
        limit = int(self.policy.image_ttl.total_seconds())
        if not 0 <= ttl_seconds <= limit:
            raise InvalidArgument(
                f"ttl_seconds must be from 1 to {limit} (0 for the default)",
                code="invalid_session_ttl",
            )
        ttl = timedelta(seconds=ttl_seconds) if ttl_seconds else self.policy.session_ttl
        started = utcnow()
        row = ProcessingSession(
            id=str(uuid.uuid4()),
            user_id=user_id,
            created_at=started,
            expires_at=started + ttl,
            status="open",
        )
        with self.db.session() as s:
            s.add(row)
            s.flush()
            view = self._view(s, row)
        log.info("processing_session_opened", session_id=view.id, ttl_s=int(ttl.total_seconds()))
        return view

    def get(self, user_id: str, session_id: str) -> SessionView:
        with self.db.session() as s:
            row = self._owned(s, user_id, session_id)
            if row.ended_at is None and as_utc(row.expires_at) <= utcnow():
                self._end(s, row, "expired")
            return self._view(s, row)

    def close(self, user_id: str, session_id: str) -> SessionView:
        """End the session now and delete its images at once; closing again changes nothing."""
        with self.db.session() as s:
            row = self._owned(s, user_id, session_id, lock=True)
            if row.ended_at is None:
                status = "expired" if as_utc(row.expires_at) <= utcnow() else "closed"
                self._end(s, row, status)
            return self._view(s, row)

    def expire_due(self) -> int:
        """Timer: end sessions past their expiry, delete what is left of ended sessions."""
        with self.db.session() as s:
            due = list(
                s.scalars(
                    select(ProcessingSession)
                    .where(
                        ProcessingSession.ended_at.is_(None),
                        ProcessingSession.expires_at <= utcnow(),
                    )
                    .limit(100)
                    .with_for_update(skip_locked=True)
                )
            )
            for row in due:
                self._end(s, row, "expired", delete=False)
            s.flush()
            return self.deleter.delete_ended_sessions(s)

    def _end(self, s: Session, row: ProcessingSession, status: str, delete: bool = True) -> None:
        row.status, row.ended_at = status, utcnow()
        s.flush()
        deleted = self.deleter.delete_ended_sessions(s, row.id) if delete else 0
        log.info("processing_session_ended", session_id=row.id, status=status, deleted=deleted)

    def _owned(
        self, s: Session, user_id: str, session_id: str, lock: bool = False
    ) -> ProcessingSession:
        row = s.get(ProcessingSession, session_id, with_for_update=lock) if session_id else None
        # Another user's session is indistinguishable from a missing one.
        if row is None or row.user_id != user_id:
            raise NotFound("processing session not found", code="session_not_found")
        return row

    def _view(self, s: Session, row: ProcessingSession) -> SessionView:
        deleted = s.scalar(
            select(func.count())
            .select_from(TrackedObject)
            .join(SessionJob, SessionJob.job_id == TrackedObject.job_id)
            .where(SessionJob.session_id == row.id, TrackedObject.reason == SESSION_EXPIRED)
        )
        return SessionView(
            id=row.id,
            status=row.status,
            created_at=as_utc(row.created_at),
            expires_at=as_utc(row.expires_at),
            ended_at=as_utc(row.ended_at) if row.ended_at else None,
            images_deleted=int(deleted or 0),
        )

    # -- privacy ------------------------------------------------------------

    def erase(self, s: Session, user_id: str) -> dict[str, int]:
        """End the user's sessions and forget them (their images go with the user's blobs)."""
        ids = list(
            s.scalars(select(ProcessingSession.id).where(ProcessingSession.user_id == user_id))
        )
        jobs = s.execute(delete(SessionJob).where(SessionJob.session_id.in_(ids)))
        sessions = s.execute(delete(ProcessingSession).where(ProcessingSession.id.in_(ids)))
        return {
            "processing_sessions": int(sessions.rowcount or 0),  # type: ignore[attr-defined]
            "session_jobs": int(jobs.rowcount or 0),  # type: ignore[attr-defined]
        }

    def purge(self, s: Session, older_than: datetime) -> dict[str, int]:
        """Bookkeeping of sessions that ended before the log cutoff."""
        ids = select(ProcessingSession.id).where(ProcessingSession.ended_at < older_than)
        jobs = s.execute(delete(SessionJob).where(SessionJob.session_id.in_(ids)))
        sessions = s.execute(
            delete(ProcessingSession).where(ProcessingSession.ended_at < older_than)
        )
        return {
            "processing_sessions": int(sessions.rowcount or 0),  # type: ignore[attr-defined]
            "session_jobs": int(jobs.rowcount or 0),  # type: ignore[attr-defined]
        }
