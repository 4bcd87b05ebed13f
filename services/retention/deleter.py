"""Deleting images: on events, when due, and by a backstop sweep that needs no events.

Every deletion is verified (the object no longer exists) and recorded. Deleting a
job's result announces `result.deleted`, so the processor forgets the traces of
the image its job row still holds (preview, BlurHash, file name).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from picopt.events.v1 import events_pb2
from picopt.kernel import metrics
from picopt.kernel.blobstore import BlobStore, FilesystemBlobStore
from picopt.kernel.db import Database, as_utc, utcnow
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import HandlerContext, Outbox, Subscription
from picopt.kernel.protos import from_timestamp
from services.retention.models import (
    DeletionRecord,
    ProcessingSession,
    SessionJob,
    SweepRun,
    TrackedObject,
)
from services.retention.policy import RetentionPolicy

log = get_logger(__name__)

SESSION_EXPIRED = "session_expired"
RESULTS_PREFIX = "results/"


@dataclass
class Deleter:
    db: Database
    blobs: BlobStore
    policy: RetentionPolicy
    # Serializes deletions with key rotation, whose rewrite must never resurrect an object.
    lock: threading.RLock = field(default_factory=threading.RLock)
    outbox: Outbox = field(default_factory=lambda: Outbox("retention"))

    # -- bookkeeping ----------------------------------------------------

    def _track(
        self,
        s: Session,
        key: str,
        job_id: str,
        kind: str,
        delete_after: datetime,
        cause: str = "deadline",
    ) -> None:
        """Remember an object; a later event may only bring its deletion closer."""
        row = s.get(TrackedObject, key)
        if row is None:
            s.add(
                TrackedObject(
                    key=key, job_id=job_id, kind=kind, delete_after=delete_after, cause=cause
                )
            )
            s.flush()
        elif as_utc(row.delete_after) > delete_after:
            row.delete_after, row.cause = delete_after, cause

    def delete_object(self, s: Session, key: str, reason: str) -> bool:
        """Delete, check it is gone, and record it in the audit log (ids and reason only)."""
        with self.lock:
            existed = self.blobs.delete(key)
            verified = not self.blobs.exists(key)
        row = s.get(TrackedObject, key)
        if row is not None and row.deleted_at is None:
            row.deleted_at, row.reason = utcnow(), reason
        if existed:
            s.add(DeletionRecord(key=key, reason=reason, verified=verified, deleted_at=utcnow()))
            metrics.after_commit(s, metrics.DELETIONS.labels(reason).inc)
            log.info("image_deleted", key=key, reason=reason, verified=verified)
            self._announce_result_deleted(s, key)
        return existed

    def _announce_result_deleted(self, s: Session, key: str) -> None:
        """`result.deleted` once per job and transaction (results live at results/<job>/<n>)."""
        job_id, _, rest = key.removeprefix(RESULTS_PREFIX).partition("/")
        if not key.startswith(RESULTS_PREFIX) or not job_id or not rest:
            return
        announced: set[str] = s.info.setdefault("results_deleted", set())
        if job_id not in announced:
            announced.add(job_id)
            self.outbox.add(s, "result.deleted", events_pb2.ResultDeleted(job_id=job_id))

    def _cap(self, deadline: datetime | None) -> datetime:
        limit = utcnow() + self.policy.image_ttl
        return min(deadline, limit) if deadline else limit

    # -- event handlers -------------------------------------------------

    def subscriptions(self) -> list[Subscription]:
        return [
            Subscription("job.submitted", events_pb2.JobSubmitted, self.on_submitted),
            Subscription("job.completed", events_pb2.JobCompleted, self.on_completed),
            Subscription("job.failed", events_pb2.JobFailed, self.on_failed),
            Subscription("result.downloaded", events_pb2.ResultDownloaded, self.on_downloaded),
        ]

    def on_submitted(self, ctx: HandlerContext) -> None:
        assert ctx.session is not None
        e = ctx.payload
        self._track(
            ctx.session, e.input_key, e.job_id, "input", self._cap(from_timestamp(e.expires_at))
        )
        if e.options.session_id:
            self._join_session(ctx.session, e.job_id, e.owner_id, e.options.session_id)
        self._session_cap(ctx.session, e.job_id)

    def on_completed(self, ctx: HandlerContext) -> None:
        assert ctx.session is not None
        e = ctx.payload
        self._track(ctx.session, e.input_key, e.job_id, "input", utcnow())
        self.delete_object(ctx.session, e.input_key, "job_ended")
        for key in e.output_keys or [e.result_key]:
            self._track(
                ctx.session, key, e.job_id, "result", self._cap(from_timestamp(e.expires_at))
            )
        self._session_cap(ctx.session, e.job_id)

    def on_failed(self, ctx: HandlerContext) -> None:
        """The upload and every output the job stored go now, each deletion audited."""
        assert ctx.session is not None
        e = ctx.payload
        self._track(ctx.session, e.input_key, e.job_id, "input", utcnow())
        self.delete_object(ctx.session, e.input_key, "job_ended")
        for key in e.output_keys:
            self._track(ctx.session, key, e.job_id, "result", utcnow())
        for key in dict.fromkeys([*e.output_keys, *self._result_keys(ctx.session, e.job_id)]):
            self.delete_object(ctx.session, key, "job_ended")

    def on_downloaded(self, ctx: HandlerContext) -> None:
        assert ctx.session is not None
        e = ctx.payload
        when = (from_timestamp(e.downloaded_at) or utcnow()) + self.policy.download_grace
        for key in e.output_keys or [e.result_key]:
            self._track(ctx.session, key, e.job_id, "result", self._cap(when), cause="download")

    # -- processing sessions ----------------------------------------------

    def _join_session(self, s: Session, job_id: str, owner_id: str, session_id: str) -> None:
        session = s.get(ProcessingSession, session_id)
        if session is None or session.user_id != owner_id:
            log.warning("job_session_unknown", job_id=job_id, session_id=session_id)
            return
        if s.get(SessionJob, job_id) is None:
            s.add(SessionJob(job_id=job_id, session_id=session_id))
            s.flush()

    def _session_cap(self, s: Session, job_id: str) -> None:
        """A job in a session: none of its images outlives the session (events in any order)."""
        session = s.scalar(
            select(ProcessingSession)
            .join(SessionJob, SessionJob.session_id == ProcessingSession.id)
            .where(SessionJob.job_id == job_id)
        )
        if session is None:
            return
        end = session_end(session)
        for row in s.scalars(
            select(TrackedObject).where(
                TrackedObject.job_id == job_id, TrackedObject.deleted_at.is_(None)
            )
        ):
            if as_utc(row.delete_after) >= end:
                row.delete_after, row.cause = end, SESSION_EXPIRED

    def delete_ended_sessions(self, s: Session, session_id: str = "", limit: int = 500) -> int:
        """Delete every remaining image of jobs in ended sessions (or in one of them)."""
        query = (
            select(TrackedObject.key)
            .join(SessionJob, SessionJob.job_id == TrackedObject.job_id)
            .join(ProcessingSession, ProcessingSession.id == SessionJob.session_id)
            .where(TrackedObject.deleted_at.is_(None), ProcessingSession.ended_at.is_not(None))
            .limit(limit)
        )
        if session_id:
            query = query.where(ProcessingSession.id == session_id)
        keys = list(s.scalars(query))
        if session_id:
            # Closing now: results written before job.completed reached us are not tracked
            # yet; find them under each job's result prefix so none is left behind.
            job_ids = list(
                s.scalars(select(SessionJob.job_id).where(SessionJob.session_id == session_id))
            )
            for job_id in job_ids:
                for info in list(self.blobs.list(f"results/{job_id}/")):
                    self._track(s, info.key, job_id, "result", utcnow())
                    keys.append(info.key)
        return sum(self.delete_object(s, key, SESSION_EXPIRED) for key in dict.fromkeys(keys))

    def _result_keys(self, s: Session, job_id: str) -> list[str]:
        return list(
            s.scalars(
                select(TrackedObject.key).where(
                    TrackedObject.job_id == job_id, TrackedObject.kind == "result"
                )
            )
        )

    # -- timers ---------------------------------------------------------

    def delete_due(self) -> int:
        """Delete every tracked object whose time has come."""
        with self.db.session() as s:
            due = list(
                s.scalars(
                    select(TrackedObject)
                    .where(
                        TrackedObject.deleted_at.is_(None), TrackedObject.delete_after <= utcnow()
                    )
                    .limit(500)
                )
            )
            count = sum(self.delete_object(s, row.key, row.cause) for row in due)
            for row in due:
                row.deleted_at = row.deleted_at or utcnow()
        return count

    def sweep(self) -> tuple[int, int]:
        """Backstop: whatever the events said, nothing outlives its deadline or the TTL.

        Also removes orphans (objects retention never heard of) once they are
        older than a short grace, and leftovers of interrupted writes.
        """
        started = utcnow()
        oldest_allowed = started - self.policy.image_ttl
        deleted = orphans = 0
        with self.db.session() as s:
            for info in list(self.blobs.list()):
                if as_utc(info.deadline) <= started or as_utc(info.created_at) <= oldest_allowed:
                    deleted += self.delete_object(s, info.key, "expired")
                elif s.get(TrackedObject, info.key) is None and (
                    as_utc(info.created_at) <= started - self.policy.orphan_grace
                ):
                    orphans += self.delete_object(s, info.key, "orphan")
            if isinstance(self.blobs, FilesystemBlobStore):
                for path in self.blobs.temp_files():
                    try:
                        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                    except FileNotFoundError:
                        # A write finished meanwhile: failing here would roll back the
                        # audit records of every deletion this sweep already made.
                        continue
                    if written <= started - self.policy.orphan_grace:
                        path.unlink(missing_ok=True)
            s.add(SweepRun(started_at=started, deleted=deleted, orphans=orphans))
        log.info("sweep_finished", deleted=deleted, orphans=orphans)
        return deleted, orphans

    def report(self) -> dict[str, object]:
        with self.db.session() as s:
            counts = dict(
                s.execute(
                    select(DeletionRecord.reason, func.count()).group_by(DeletionRecord.reason)
                ).all()
            )
            last = s.scalar(select(func.max(SweepRun.started_at)))
        infos = list(self.blobs.list())
        oldest = min((as_utc(i.created_at) for i in infos), default=None)
        return {
            "stored_objects": len(infos),
            "oldest_object_age_seconds": int((utcnow() - oldest).total_seconds()) if oldest else 0,
            "deletions": counts,
            "last_sweep_at": as_utc(last) if last else None,
        }


def session_end(session: ProcessingSession) -> datetime:
    """When a session's images must be gone: its expiry, or earlier if it was closed."""
    expires = as_utc(session.expires_at)
    return min(expires, as_utc(session.ended_at)) if session.ended_at else expires
