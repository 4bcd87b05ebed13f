"""Credit consumption for the user: per job and per day, newest first, cursor-paginated.

Consumption is what was captured: a released hold (failed or cancelled job)
cost nothing and is not listed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from picopt.kernel.db import Database
from picopt.kernel.errors import InvalidArgument
from services.billing.models import Reservation
from services.billing.purchases import decode_cursor, encode_cursor


@dataclass(frozen=True)
class UsageItem:
    credits: int
    jobs: int
    at: datetime | None = None
    job_id: str = ""
    day: str = ""


def _page_size(value: int) -> int:
    return min(max(value or 20, 1), 100)


class Usage:
    def __init__(self, db: Database) -> None:
        self.db = db

    def page(
        self, user_id: str, group_by: str = "job", page_size: int = 20, cursor: str = ""
    ) -> tuple[list[UsageItem], str]:
        if group_by in ("", "job"):
            return self.per_job(user_id, _page_size(page_size), cursor)
        if group_by == "day":
            return self.per_day(user_id, _page_size(page_size), cursor)
        raise InvalidArgument("group_by must be 'job' or 'day'", code="invalid_parameter")

    def per_job(self, user_id: str, size: int, cursor: str) -> tuple[list[UsageItem], str]:
        query = select(Reservation.job_id, Reservation.credits, Reservation.updated_at).where(
            Reservation.user_id == user_id, Reservation.status == "captured"
        )
        if cursor:
            at, job_id = decode_cursor(cursor)
            query = query.where(
                (Reservation.updated_at < at)
                | ((Reservation.updated_at == at) & (Reservation.job_id < job_id))
            )
        with self.db.session() as s:
            rows = list(
                s.execute(
                    query.order_by(Reservation.updated_at.desc(), Reservation.job_id.desc()).limit(
                        size + 1
                    )
                )
            )
        items = [UsageItem(credits=int(c), jobs=1, at=at, job_id=job_id) for job_id, c, at in rows]
        more = len(items) > size
        items = items[:size]
        last = items[-1] if more else None
        return items, encode_cursor(last.at, last.job_id) if last and last.at else ""

    def per_day(self, user_id: str, size: int, cursor: str) -> tuple[list[UsageItem], str]:
        """UTC days; the cursor is the last day shown (days before it come next)."""
        query = select(Reservation.updated_at, Reservation.credits).where(
            Reservation.user_id == user_id, Reservation.status == "captured"
        )
        if cursor:
            before = _decode_day(cursor)
            query = query.where(Reservation.updated_at < _midnight(before))
        # Bounded by the page: fetch day by day from the newest capture down.
        items: list[UsageItem] = []
        with self.db.session() as s:
            while len(items) <= size:
                newest = s.scalar(
                    query.with_only_columns(func.max(Reservation.updated_at)).order_by(None)
                )
                if newest is None:
                    break
                day = (newest if newest.tzinfo is None else newest.astimezone(UTC)).date()
                start = _midnight(day)
                credits, jobs = s.execute(
                    query.with_only_columns(
                        func.coalesce(func.sum(Reservation.credits), 0), func.count()
                    )
                    .order_by(None)
                    .where(
                        Reservation.updated_at >= start,
                        Reservation.updated_at < start + timedelta(days=1),
                    )
                ).one()
                items.append(UsageItem(credits=int(credits), jobs=int(jobs), day=day.isoformat()))
                query = query.where(Reservation.updated_at < start)
        more = len(items) > size
        items = items[:size]
        return items, _encode_day(items[-1].day) if more else ""


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def _encode_day(day: str) -> str:
    return base64.urlsafe_b64encode(f"day|{day}".encode()).decode().rstrip("=")


def _decode_day(cursor: str) -> date:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, day = raw.split("|", 1)
        if tag != "day":
            raise ValueError(tag)
        return date.fromisoformat(day)
    except ValueError as exc:
        raise InvalidArgument("invalid cursor", code="invalid_cursor") from exc
