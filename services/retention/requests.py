"""Data-subject requests: erasure orchestration, deadlines, overdue flags and the audit trail.

An erasure sends `account.erase` to every service through the outbox and is
complete only when each service in RETENTION_ERASURE_SERVICES has answered
`account.erased`. Until then a timer re-sends the order (lost events, a service
restored from backup) and flags the request overdue long before its deadline.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database, as_utc, utcnow
from picopt.kernel.errors import FailedPrecondition, InvalidArgument, NotFound
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import HandlerContext, Outbox, Subscription
from services.retention.models import (
    DataExport,
    ErasureConfirmation,
    PrivacyRequest,
    RequestAudit,
)
from services.retention.policy import RetentionPolicy

log = get_logger(__name__)

KINDS = ("erasure", "export", "correction")
OPEN, COMPLETED = "open", "completed"


def audit(s: Session, request_id: str, action: str, service: str = "", detail: str = "") -> None:
    s.add(
        RequestAudit(
            request_id=request_id, at=utcnow(), action=action, service=service, detail=detail[:500]
        )
    )


@dataclass(frozen=True)
class RequestView:
    """A request as callers see it, with the services an erasure still waits for."""

    request: PrivacyRequest
    pending_services: tuple[str, ...]


@dataclass
class Requests:
    db: Database
    outbox: Outbox
    policy: RetentionPolicy

    def open(self, user_id: str, kind: str, actor: str) -> RequestView:
        """Record a request; an erasure is dispatched in the same transaction.

        A second erasure or export for a user with one still open returns the open one.
        """
        if not user_id:
            raise InvalidArgument("user_id is required", code="invalid_user_id")
        if kind not in KINDS:
            raise InvalidArgument(f"kind must be one of {', '.join(KINDS)}", code="invalid_kind")
        with self.db.session() as s:
            existing = s.scalar(
                select(PrivacyRequest).where(
                    PrivacyRequest.user_id == user_id,
                    PrivacyRequest.kind == kind,
                    PrivacyRequest.status == OPEN,
                )
            )
            if existing is not None and kind != "correction":
                return self._view(s, existing)
            created = utcnow()
            row = PrivacyRequest(
                id=str(uuid.uuid4()),
                user_id=user_id,
                kind=kind,
                status=OPEN,
                created_at=created,
                deadline=created + self.policy.erasure_deadline,
            )
            s.add(row)
            audit(s, row.id, "requested", detail=f"by {actor}")
            if kind == "erasure":
                self._dispatch(s, row)
            elif kind == "export":
                s.add(DataExport(request_id=row.id, user_id=user_id, status="pending"))
            s.flush()
            view = self._view(s, row)
        log.info("privacy_request_opened", request_id=row.id, kind=kind, user_id=user_id)
        return view

    def _dispatch(self, s: Session, row: PrivacyRequest) -> None:
        row.dispatched_at = utcnow()
        self.outbox.add(
            s, "account.erase", events_pb2.AccountErase(user_id=row.user_id, request_id=row.id)
        )
        audit(s, row.id, "erase_sent", detail=",".join(self._pending(s, row)))

    def _pending(self, s: Session, row: PrivacyRequest) -> tuple[str, ...]:
        if row.kind != "erasure" or row.status != OPEN:
            return ()
        done = set(
            s.scalars(
                select(ErasureConfirmation.service).where(ErasureConfirmation.request_id == row.id)
            )
        )
        return tuple(svc for svc in self.policy.erasure_services if svc not in done)

    def _view(self, s: Session, row: PrivacyRequest) -> RequestView:
        pending = self._pending(s, row)
        s.expunge(row)
        return RequestView(row, pending)

    # -- queries ---------------------------------------------------------

    def get(self, request_id: str) -> tuple[RequestView, list[RequestAudit]]:
        with self.db.session(readonly=True) as s:
            row = s.get(PrivacyRequest, request_id) if request_id else None
            if row is None:
                raise NotFound("request not found", code="request_not_found")
            trail = list(
                s.scalars(
                    select(RequestAudit)
                    .where(RequestAudit.request_id == request_id)
                    .order_by(RequestAudit.id)
                )
            )
            s.expunge_all()
            return self._view_detached(s, row), trail

    def _view_detached(self, s: Session, row: PrivacyRequest) -> RequestView:
        return RequestView(row, self._pending(s, row))

    def search(self, status: str = "", user_id: str = "") -> list[RequestView]:
        query = select(PrivacyRequest).order_by(PrivacyRequest.created_at)
        if status:
            query = query.where(PrivacyRequest.status == status)
        if user_id:
            query = query.where(PrivacyRequest.user_id == user_id)
        with self.db.session(readonly=True) as s:
            rows = list(s.scalars(query))
            views = [RequestView(r, self._pending(s, r)) for r in rows]
            s.expunge_all()
        return views

    def overdue(self) -> list[RequestView]:
        return [v for v in self.search(status=OPEN) if v.request.overdue_at is not None]

    # -- state changes -----------------------------------------------------

    def complete(self, request_id: str, actor: str) -> RequestView:
        """Close a correction (or an export whose archive is ready) by hand or by code."""
        with self.db.session() as s:
            row = s.get(PrivacyRequest, request_id) if request_id else None
            if row is None:
                raise NotFound("request not found", code="request_not_found")
            if row.kind == "erasure":
                raise FailedPrecondition(
                    "an erasure completes when every service has confirmed",
                    code="erasure_not_manual",
                )
            mark_completed(s, row, actor)
            return self._view(s, row)

    def on_erased(self, ctx: HandlerContext) -> None:
        """Record one service's confirmation; complete the request when none is missing."""
        assert ctx.session is not None
        s, e = ctx.session, ctx.payload
        row = s.get(PrivacyRequest, e.request_id)
        if row is None or not e.service:
            log.warning("erasure_confirmation_unknown", request_id=e.request_id, service=e.service)
            return
        if s.get(ErasureConfirmation, (row.id, e.service)) is None:
            counts = {str(k): int(v) for k, v in e.counts.items()}
            s.add(
                ErasureConfirmation(
                    request_id=row.id, service=e.service, confirmed_at=utcnow(), counts=counts
                )
            )
            s.flush()
            detail = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            audit(s, row.id, "erased", service=e.service, detail=detail)
        if row.status == OPEN and not self._pending(s, row):
            mark_completed(s, row, "erasure")

    def tick(self) -> tuple[int, int]:
        """Timer: re-send stale erasures and flag requests open longer than the warning limit."""
        resent = flagged = 0
        current = utcnow()
        with self.db.session() as s:
            for row in s.scalars(select(PrivacyRequest).where(PrivacyRequest.status == OPEN)):
                if (
                    row.overdue_at is None
                    and as_utc(row.created_at) + self.policy.overdue_after <= current
                ):
                    row.overdue_at = current
                    flagged += 1
                    audit(
                        s,
                        row.id,
                        "flagged_overdue",
                        detail=f"deadline {as_utc(row.deadline).isoformat()}",
                    )
                    log.warning(
                        "privacy_request_overdue",
                        request_id=row.id,
                        kind=row.kind,
                        deadline=as_utc(row.deadline).isoformat(),
                    )
                if (
                    row.kind == "erasure"
                    and as_utc(row.dispatched_at or row.created_at) + self.policy.erasure_retry
                    <= current
                ):
                    self._dispatch(s, row)
                    resent += 1
        if resent or flagged:
            log.info("privacy_requests_checked", resent=resent, flagged=flagged)
        return resent, flagged

    def subscriptions(self) -> list[Subscription]:
        return [Subscription("account.erased", events_pb2.AccountErased, self.on_erased)]


def mark_completed(s: Session, row: PrivacyRequest, actor: str) -> None:
    if row.status == COMPLETED:
        return
    row.status, row.completed_at = COMPLETED, utcnow()
    audit(s, row.id, "completed", detail=f"by {actor}")
    log.info("privacy_request_completed", request_id=row.id, kind=row.kind)
