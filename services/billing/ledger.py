"""Ledger use cases. Every operation is idempotent by job id (or an explicit key).

Concurrency: each balance-changing operation first bumps the user's account
row, which takes a row lock on PostgreSQL (and the write lock on SQLite), so
concurrent operations for one user are serialized and can never overspend.
The row is created with INSERT .. ON CONFLICT DO NOTHING, so two first
operations for a new user both end up waiting on the same row instead of
one of them failing on the primary key.

Credits live in two buckets: granted (trial, staff) and purchased. Jobs
spend granted credits first because only those can expire.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, case, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from picopt.kernel import metrics
from picopt.kernel.db import Database, utcnow
from picopt.kernel.errors import FailedPrecondition, InsufficientCredits, InvalidArgument
from picopt.kernel.logs import get_logger
from services.billing.models import GRANTED, PURCHASED, Account, LedgerEntry, Reservation
from services.billing.pricing import Pricing

log = get_logger(__name__)


def rowcount(result: object) -> int:
    """Rows an UPDATE touched (typed access to CursorResult.rowcount)."""
    return int(cast(CursorResult[Any], result).rowcount)


@dataclass(frozen=True)
class Balance:
    available: int
    reserved: int
    granted: int
    purchased: int


class Ledger:
    def __init__(self, db: Database, pricing: Pricing) -> None:
        self.db = db
        self.pricing = pricing

    # -- building blocks -------------------------------------------------

    def lock_account(self, s: Session, user_id: str) -> None:
        """Serialize every balance change of one user behind their account row."""
        bump = update(Account).where(Account.user_id == user_id)
        if rowcount(s.execute(bump.values(version=Account.version + 1))):
            return
        insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        s.execute(
            insert(Account)
            .values(user_id=user_id, version=0, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
        s.execute(bump.values(version=Account.version + 1))

    def _entry(
        self,
        s: Session,
        user_id: str,
        kind: str,
        credits: int,
        idem_key: str,
        bucket: str = GRANTED,
        job_id: str | None = None,
        purchase_id: str | None = None,
        reason: str = "",
        expires_at: datetime | None = None,
    ) -> None:
        s.add(
            LedgerEntry(
                id=str(uuid.uuid4()),
                user_id=user_id,
                kind=kind,
                bucket=bucket,
                credits=credits,
                job_id=job_id,
                purchase_id=purchase_id,
                reason=reason[:200],
                idem_key=idem_key,
                expires_at=expires_at,
                created_at=utcnow(),
            )
        )
        s.flush()

    def buckets(self, s: Session, user_id: str) -> tuple[int, int]:
        """(granted, purchased) credits available now; open reservations are already deducted."""
        granted, purchased = s.execute(
            select(
                func.coalesce(
                    func.sum(case((LedgerEntry.bucket == GRANTED, LedgerEntry.credits), else_=0)),
                    0,
                ),
                func.coalesce(
                    func.sum(case((LedgerEntry.bucket == PURCHASED, LedgerEntry.credits), else_=0)),
                    0,
                ),
            ).where(LedgerEntry.user_id == user_id)
        ).one()
        return int(granted), int(purchased)

    def credits_of(self, s: Session, idem_key: str) -> int | None:
        """The credits of the entry written under `idem_key` (None if there is none)."""
        found: int | None = s.scalar(
            select(LedgerEntry.credits).where(LedgerEntry.idem_key == idem_key)
        )
        return found

    def _done(self, s: Session, idem_key: str) -> bool:
        return s.scalar(select(LedgerEntry.id).where(LedgerEntry.idem_key == idem_key)) is not None

    # -- queries ---------------------------------------------------------

    def balance(self, user_id: str) -> Balance:
        with self.db.session() as s:
            reserved = s.scalar(
                select(func.coalesce(func.sum(Reservation.credits), 0)).where(
                    Reservation.user_id == user_id, Reservation.status == "reserved"
                )
            )
            granted, purchased = self.buckets(s, user_id)
            return Balance(granted + purchased, int(reserved or 0), granted, purchased)

    def entries(self, user_id: str, limit: int = 1000) -> list[LedgerEntry]:
        """A user's entries, oldest first (staff CLI, data export)."""
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(LedgerEntry)
                    .where(LedgerEntry.user_id == user_id)
                    .order_by(LedgerEntry.created_at, LedgerEntry.id)
                    .limit(limit)
                )
            )
            s.expunge_all()
            return rows

    # -- credits in and out ----------------------------------------------

    def grant(
        self,
        session: Session,
        user_id: str,
        credits: int,
        idem_key: str,
        reason: str,
        *,
        kind: str = "grant",
        bucket: str = GRANTED,
        purchase_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> bool:
        """Add credits once per idem_key, inside the caller's transaction."""
        if credits <= 0:
            raise InvalidArgument("a grant must be positive")
        written = self._once(
            session,
            user_id,
            kind,
            credits,
            idem_key,
            bucket=bucket,
            purchase_id=purchase_id,
            reason=reason,
            expires_at=expires_at,
        )
        if written:
            log.info("credits_granted", user_id=user_id, credits=credits, kind=kind, bucket=bucket)
        return written

    def debit(
        self,
        session: Session,
        user_id: str,
        credits: int,
        idem_key: str,
        reason: str,
        *,
        kind: str,
        bucket: str,
        purchase_id: str | None = None,
    ) -> bool:
        """Take credits out of one bucket once per idem_key; the bucket may go negative
        (a refund of credits already spent), which blocks new jobs until topped up."""
        if credits <= 0:
            raise InvalidArgument("a debit must be positive")
        written = self._once(
            session,
            user_id,
            kind,
            -credits,
            idem_key,
            bucket=bucket,
            purchase_id=purchase_id,
            reason=reason,
        )
        if written:
            log.info("credits_debited", user_id=user_id, credits=credits, kind=kind, bucket=bucket)
        return written

    def note(
        self,
        session: Session,
        user_id: str,
        idem_key: str,
        reason: str,
        *,
        kind: str,
        purchase_id: str | None = None,
    ) -> bool:
        """A zero-credit entry once per idem_key: a step that happened and moved nothing
        (a dispute won before its withdrawal arrived), so a later event sees it."""
        return self._once(
            session,
            user_id,
            kind,
            0,
            idem_key,
            bucket=PURCHASED,
            purchase_id=purchase_id,
            reason=reason,
        )

    def _once(
        self,
        session: Session,
        user_id: str,
        kind: str,
        credits: int,
        idem_key: str,
        **fields: Any,
    ) -> bool:
        """Write one entry under the account's lock unless idem_key was written before."""
        self.lock_account(session, user_id)
        if self._done(session, idem_key):
            return False
        self._entry(session, user_id, kind, credits, idem_key, **fields)
        return True

    def adjust(self, user_id: str, credits: int, reason: str, idem_key: str) -> Balance:
        """A staff correction with a reason: positive adds granted credits, negative removes
        available credits (granted first) and never below zero."""
        if not reason.strip():
            raise InvalidArgument("an adjustment needs a reason")
        if credits == 0:
            raise InvalidArgument("an adjustment must not be zero")
        key = f"adjust:{idem_key}"
        with self.db.session() as s:
            self.lock_account(s, user_id)
            if not self._done(s, key):
                if credits > 0:
                    self._entry(s, user_id, "adjust", credits, key, reason=reason)
                else:
                    granted, purchased = self.buckets(s, user_id)
                    if granted + purchased < -credits:
                        raise FailedPrecondition(
                            f"cannot remove {-credits} credits; {granted + purchased} available"
                        )
                    from_granted = min(-credits, max(granted, 0))
                    if from_granted:
                        self._entry(s, user_id, "adjust", -from_granted, key, reason=reason)
                    if -credits - from_granted:
                        self._entry(
                            s,
                            user_id,
                            "adjust",
                            credits + from_granted,
                            f"{key}:{PURCHASED}" if from_granted else key,
                            bucket=PURCHASED,
                            reason=reason,
                        )
                log.info("credits_adjusted", user_id=user_id, credits=credits)
        return self.balance(user_id)

    # -- the job cycle ---------------------------------------------------

    def reserve(
        self, job_id: str, user_id: str, with_metadata: bool, outputs: int
    ) -> tuple[int, int]:
        """Hold the job's price; answers (credits, available after). Repeats answer the same."""
        if not job_id or not user_id:
            raise InvalidArgument("job_id and user_id are required")
        cost = self.pricing.cost(with_metadata, outputs)
        with self.db.session() as s:
            self.lock_account(s, user_id)
            existing = s.get(Reservation, job_id)
            granted, purchased = self.buckets(s, user_id)
            if existing is not None:
                if existing.user_id != user_id:
                    raise InvalidArgument("job id belongs to another reservation")
                return existing.credits, granted + purchased
            if granted + purchased < cost:
                raise InsufficientCredits(
                    f"this job needs {cost} credits; {max(granted + purchased, 0)} available"
                )
            from_granted = min(cost, max(granted, 0))
            s.add(
                Reservation(
                    job_id=job_id,
                    user_id=user_id,
                    credits=cost,
                    granted_credits=from_granted,
                    outputs=max(outputs, 1),
                    output_credits=self.pricing.image,
                    status="reserved",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            self._split(s, user_id, "reserve", -cost, -from_granted, job_id)
        log.info("credits_reserved", job_id=job_id, credits=cost)
        return cost, granted + purchased - cost

    def _split(
        self,
        s: Session,
        user_id: str,
        kind: str,
        total: int,
        granted: int,
        job_id: str,
        reason: str = "",
    ) -> None:
        """One entry per bucket touched; keys `<kind>:<job>` and `<kind>:<job>:purchased`."""
        if granted:
            self._entry(s, user_id, kind, granted, f"{kind}:{job_id}", job_id=job_id, reason=reason)
        if total - granted:
            key = f"{kind}:{job_id}:{PURCHASED}" if granted else f"{kind}:{job_id}"
            self._entry(
                s, user_id, kind, total - granted, key, PURCHASED, job_id=job_id, reason=reason
            )

    def capture(self, session: Session, job_id: str, outputs_made: int | None = None) -> int:
        """Make the hold final. Idempotent; a released hold stays released.

        `outputs_made` below what was reserved (responsive widths above the source collapse
        into one full-size output) gives the unmade outputs' credits back: a user pays for
        the images they get."""
        res = session.get(Reservation, job_id)
        if res is None:
            log.warning("capture_without_reservation", job_id=job_id)
            return 0
        self.lock_account(session, res.user_id)
        session.refresh(res)
        if res.status != "reserved":
            return res.credits if res.status == "captured" else 0
        res.status, res.updated_at = "captured", utcnow()
        unmade = res.outputs - max(outputs_made or res.outputs, 1)
        refund = min(max(unmade, 0) * res.output_credits, res.credits)
        if refund:
            # Purchased credits back first: they never expire, granted ones may.
            from_granted = max(refund - (res.credits - res.granted_credits), 0)
            self._split(
                session, res.user_id, "release", refund, from_granted, job_id, "outputs_not_made"
            )
            res.credits -= refund
            res.granted_credits -= from_granted
            log.info("credits_refunded", job_id=job_id, credits=refund, outputs_unmade=unmade)
        self._entry(session, res.user_id, "capture", 0, f"capture:{job_id}", job_id=job_id)
        credits = res.credits
        metrics.after_commit(session, lambda: metrics.CREDITS_CONSUMED.inc(credits))
        log.info("credits_captured", job_id=job_id, credits=res.credits)
        return res.credits

    def release(self, session: Session, job_id: str, reason: str) -> int:
        """Give the hold back to the buckets it came from. Idempotent; never after a capture."""
        res = session.get(Reservation, job_id)
        if res is None:
            return 0
        self.lock_account(session, res.user_id)
        session.refresh(res)
        if res.status != "reserved":
            return 0
        res.status, res.updated_at = "released", utcnow()
        self._split(
            session, res.user_id, "release", res.credits, res.granted_credits, job_id, reason
        )
        log.info("credits_released", job_id=job_id, credits=res.credits, reason=reason)
        return res.credits

    def release_stale(self, older_than: timedelta) -> int:
        """Release holds whose job never reached an end (e.g. the gateway died after reserving)."""
        cutoff = utcnow() - older_than
        with self.db.session() as s:
            stale = list(
                s.scalars(
                    select(Reservation.job_id).where(
                        Reservation.status == "reserved", Reservation.created_at < cutoff
                    )
                )
            )
        released = 0
        for job_id in stale:
            with self.db.session() as s:
                released += bool(self.release(s, job_id, "reservation_timeout"))
        return released

    # -- expiry of granted credits ---------------------------------------

    def expire_grants(self, at: datetime | None = None) -> int:
        """Append an `expire` entry for every grant past its expiry; answers credits expired.

        Spending takes granted credits earliest-expiry first, so what is left of
        the granted bucket belongs to the grants expiring last (or never); the
        part of this grant still unspent is what those later grants cannot
        account for.
        """
        at = at or utcnow()
        expired = aliased(LedgerEntry)
        with self.db.session() as s:
            due = list(
                s.execute(
                    select(LedgerEntry.id, LedgerEntry.user_id)
                    .where(
                        LedgerEntry.bucket == GRANTED,
                        LedgerEntry.credits > 0,
                        LedgerEntry.expires_at.is_not(None),
                        LedgerEntry.expires_at <= at,
                        ~exists().where(expired.idem_key == literal("expire:") + LedgerEntry.id),
                    )
                    .order_by(LedgerEntry.expires_at, LedgerEntry.id)
                )
            )
        total = 0
        for entry_id, user_id in due:
            with self.db.session() as s:
                total += self._expire_one(s, entry_id, user_id)
        return total

    def _expire_one(self, s: Session, entry_id: str, user_id: str) -> int:
        key = f"expire:{entry_id}"
        self.lock_account(s, user_id)
        if self._done(s, key):
            return 0
        grant = s.get(LedgerEntry, entry_id)
        assert grant is not None and grant.expires_at is not None
        later = s.scalar(
            select(func.coalesce(func.sum(LedgerEntry.credits), 0)).where(
                LedgerEntry.user_id == user_id,
                LedgerEntry.bucket == GRANTED,
                LedgerEntry.credits > 0,
                LedgerEntry.kind.in_(("grant", "adjust")),
                LedgerEntry.id != entry_id,
                (LedgerEntry.expires_at.is_(None)) | (LedgerEntry.expires_at > grant.expires_at),
            )
        )
        granted, _ = self.buckets(s, user_id)
        amount = max(0, min(grant.credits, granted - int(later or 0)))
        self._entry(s, user_id, "expire", -amount, key, reason=f"grant {entry_id} expired")
        log.info("credits_expired", user_id=user_id, credits=amount)
        return amount
