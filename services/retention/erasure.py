"""Retention's own part of erasure, log purge and export.

Blobs carry their owner, so erasing needs no event history: uploads, results
and export archives of the user are deleted (and verified gone) wherever they
are, with the user's processing sessions and policy-mail notices. Request
records and the deletion audit log stay: they hold ids, times and counts only,
and are the proof that the erasure happened.

Every bookkeeping table is bounded by the log purge: objects long deleted, the
deletion audit log, sweep runs, ended sessions, and the notices of policy
versions whose mail fan-out finished.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from picopt.kernel.exports import ExportPart
from services.retention.deleter import Deleter
from services.retention.models import (
    DataExport,
    DeletionRecord,
    PolicyNotice,
    PolicyVersion,
    PrivacyRequest,
    ProcessingSession,
    RequestAudit,
    SweepRun,
    TrackedObject,
)
from services.retention.sessions import Sessions


@dataclass
class RetentionData:
    deleter: Deleter
    sessions: Sessions

    def erase(self, s: Session, user_id: str) -> dict[str, int]:
        owned = [info.key for info in self.deleter.blobs.list() if info.owner == user_id]
        deleted = sum(self.deleter.delete_object(s, key, "account_erased") for key in owned)
        exports = s.execute(delete(DataExport).where(DataExport.user_id == user_id))
        notices = s.execute(delete(PolicyNotice).where(PolicyNotice.user_id == user_id))
        return {
            "blobs": deleted,
            "data_exports": int(exports.rowcount or 0),  # type: ignore[attr-defined]
            "policy_notices": int(notices.rowcount or 0),  # type: ignore[attr-defined]
            **self.sessions.erase(s, user_id),
        }

    def purge(self, s: Session, older_than: datetime) -> dict[str, int]:
        """Bookkeeping older than the cutoff (notices only once their fan-out is over)."""
        tracked = s.execute(
            delete(TrackedObject).where(
                TrackedObject.deleted_at.is_not(None), TrackedObject.deleted_at < older_than
            )
        )
        deletions = s.execute(delete(DeletionRecord).where(DeletionRecord.deleted_at < older_than))
        sweeps = s.execute(delete(SweepRun).where(SweepRun.started_at < older_than))
        # A notice is what keeps a fan-out from mailing a user twice: it stays until the
        # version's fan-out is done.
        finished = select(PolicyVersion.version).where(
            PolicyVersion.notification_done_at.is_not(None)
        )
        notices = s.execute(
            delete(PolicyNotice).where(
                PolicyNotice.sent_at < older_than, PolicyNotice.version.in_(finished)
            )
        )
        return {
            "tracked_objects": int(tracked.rowcount or 0),  # type: ignore[attr-defined]
            "deletion_log": int(deletions.rowcount or 0),  # type: ignore[attr-defined]
            "sweep_runs": int(sweeps.rowcount or 0),  # type: ignore[attr-defined]
            "policy_notices": int(notices.rowcount or 0),  # type: ignore[attr-defined]
            **self.sessions.purge(s, older_than),
        }


def export_own_part(s: Session, user_id: str) -> Iterator[ExportPart]:
    """The user's requests with their audit trails, sessions, exports and policy mails."""
    requests = s.scalars(
        select(PrivacyRequest)
        .where(PrivacyRequest.user_id == user_id)
        .order_by(PrivacyRequest.created_at)
    )
    yield ExportPart(
        "requests.json",
        "privacy_requests",
        (
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "created_at": r.created_at,
                "deadline": r.deadline,
                "completed_at": r.completed_at,
                "audit": [
                    {"at": a.at, "action": a.action, "service": a.service}
                    for a in s.scalars(
                        select(RequestAudit)
                        .where(RequestAudit.request_id == r.id)
                        .order_by(RequestAudit.id)
                    )
                ],
            }
            for r in list(requests)
        ),
    )
    yield ExportPart(
        "exports.json",
        "data_exports",
        (
            {"id": e.request_id, "status": e.status, "expires_at": e.expires_at}
            for e in s.scalars(select(DataExport).where(DataExport.user_id == user_id))
        ),
    )
    yield ExportPart(
        "sessions.json",
        "processing_sessions",
        (
            {
                "id": x.id,
                "status": x.status,
                "created_at": x.created_at,
                "expires_at": x.expires_at,
                "ended_at": x.ended_at,
            }
            for x in s.scalars(
                select(ProcessingSession)
                .where(ProcessingSession.user_id == user_id)
                .order_by(ProcessingSession.created_at)
            )
        ),
    )
    yield ExportPart(
        "policy_notices.json",
        "policy_notices",
        (
            {"policy_version": n.version, "mailed_at": n.sent_at}
            for n in s.scalars(select(PolicyNotice).where(PolicyNotice.user_id == user_id))
        ),
    )
