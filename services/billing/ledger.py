"""Ledger use cases. Every operation is idempotent by job id (or grant key).

Concurrency: each balance-changing operation first bumps the user's account
row, which takes a row lock on PostgreSQL (and the write lock on SQLite), so
concurrent reservations for one user are serialized and can never overspend.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from picopt.kernel.db import Database
from picopt.kernel.errors import InsufficientCredits, InvalidArgument
from picopt.kernel.logs import get_logger
from services.billing.models import Account, LedgerEntry, Reservation

log = get_logger(__name__)


@dataclass(frozen=True)
class Pricing:
    image: int = 1
    metadata: int = 1

    def cost(self, with_metadata: bool, outputs: int) -> int:
        return self.image * max(outputs, 1) + (self.metadata if with_metadata else 0)


def now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    def __init__(self, db: Database, pricing: Pricing) -> None:
        self.db = db
        self.pricing = pricing

    def _lock_account(self, s: Session, user_id: str) -> None:
        bumped = s.execute(
            update(Account).where(Account.user_id == user_id).values(version=Account.version + 1)
        ).rowcount
        if not bumped:
            s.add(Account(user_id=user_id, version=0, created_at=now()))
            s.flush()

    def _entry(
        self,
        s: Session,
        user_id: str,
        kind: str,
        credits: int,
        idem_key: str,
        job_id: str | None = None,
        reason: str = "",
    ) -> None:
        s.add(
            LedgerEntry(
                id=str(uuid.uuid4()),
                user_id=user_id,
                kind=kind,
                credits=credits,
                job_id=job_id,
                reason=reason,
                idem_key=idem_key,
                created_at=now(),
            )
        )

    def _available(self, s: Session, user_id: str) -> int:
        total = s.scalar(
            select(func.coalesce(func.sum(LedgerEntry.credits), 0)).where(
                LedgerEntry.user_id == user_id
            )
        )
        return int(total or 0)

    def balance(self, user_id: str) -> tuple[int, int]:
        """(available, reserved)."""
        with self.db.session() as s:
            reserved = s.scalar(
                select(func.coalesce(func.sum(Reservation.credits), 0)).where(
                    Reservation.user_id == user_id, Reservation.status == "reserved"
                )
            )
            return self._available(s, user_id), int(reserved or 0)

    def grant(
        self, session: Session, user_id: str, credits: int, idem_key: str, reason: str
    ) -> bool:
        """Add credits once per idem_key, inside the caller's transaction."""
        if credits <= 0:
            raise InvalidArgument("a grant must be positive")
        self._lock_account(session, user_id)
        if session.scalar(select(LedgerEntry.id).where(LedgerEntry.idem_key == idem_key)):
            return False
        self._entry(session, user_id, "grant", credits, idem_key, reason=reason)
        log.info("credits_granted", user_id=user_id, credits=credits, reason=reason)
        return True

    def reserve(
        self, job_id: str, user_id: str, with_metadata: bool, outputs: int
    ) -> tuple[int, int]:
        """Hold the job's price; answers (credits, available after). Repeats answer the same."""
        if not job_id or not user_id:
            raise InvalidArgument("job_id and user_id are required")
        cost = self.pricing.cost(with_metadata, outputs)
        with self.db.session() as s:
            self._lock_account(s, user_id)
            existing = s.get(Reservation, job_id)
            if existing is not None:
                if existing.user_id != user_id:
                    raise InvalidArgument("job id belongs to another reservation")
                return existing.credits, self._available(s, user_id)
            available = self._available(s, user_id)
            if available < cost:
                raise InsufficientCredits(f"this job needs {cost} credits; {available} available")
            s.add(
                Reservation(
                    job_id=job_id,
                    user_id=user_id,
                    credits=cost,
                    status="reserved",
                    created_at=now(),
                    updated_at=now(),
                )
            )
            self._entry(s, user_id, "reserve", -cost, f"reserve:{job_id}", job_id=job_id)
        log.info("credits_reserved", job_id=job_id, credits=cost)
        return cost, available - cost

    def capture(self, session: Session, job_id: str) -> int:
        """Make the hold final. Idempotent; a released hold stays released."""
        res = session.get(Reservation, job_id)
        if res is None:
            log.warning("capture_without_reservation", job_id=job_id)
            return 0
        self._lock_account(session, res.user_id)
        session.refresh(res)
        if res.status != "reserved":
            return res.credits if res.status == "captured" else 0
        res.status, res.updated_at = "captured", now()
        self._entry(session, res.user_id, "capture", 0, f"capture:{job_id}", job_id=job_id)
        log.info("credits_captured", job_id=job_id, credits=res.credits)
        return res.credits

    def release(self, session: Session, job_id: str, reason: str) -> int:
        """Give the hold back. Idempotent; a captured hold is never released."""
        res = session.get(Reservation, job_id)
        if res is None:
            return 0
        self._lock_account(session, res.user_id)
        session.refresh(res)
        if res.status != "reserved":
            return 0
        res.status, res.updated_at = "released", now()
        self._entry(
            session,
            res.user_id,
            "release",
            res.credits,
            f"release:{job_id}",
            job_id=job_id,
            reason=reason[:200],
        )
        log.info("credits_released", job_id=job_id, credits=res.credits, reason=reason)
        return res.credits

    def release_stale(self, older_than: timedelta) -> int:
        """Release holds whose job never reached an end (e.g. the gateway died after reserving)."""
        cutoff = now() - older_than
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

    def entries(self, user_id: str) -> list[LedgerEntry]:
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(LedgerEntry)
                    .where(LedgerEntry.user_id == user_id)
                    .order_by(LedgerEntry.created_at)
                )
            )
            s.expunge_all()
            return rows
