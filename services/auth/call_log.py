"""The API call log: what the gateway reports of every authenticated call, kept 90 days."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DbSession

from picopt.kernel.db import Database
from picopt.kernel.logs import get_logger
from services.auth.models import ApiCallRecord
from services.auth.rows import rowcount
from services.auth.throttle import LoginThrottle

log = get_logger(__name__)


@dataclass(frozen=True)
class ApiCall:
    user_id: str
    method: str
    route: str
    status: int
    duration_ms: int
    at: datetime
    key_id: str = ""


class CallLog:
    def __init__(self, db: Database, throttle: LoginThrottle) -> None:
        self.db = db
        self.throttle = throttle

    def record_api_calls(self, calls: Iterable[ApiCall]) -> int:
        rows = [
            ApiCallRecord(
                user_id=c.user_id,
                key_id=c.key_id or None,
                method=c.method[:10],
                route=c.route[:200],
                status=c.status,
                duration_ms=max(0, c.duration_ms),
                at=c.at,
            )
            for c in calls
            if c.user_id
        ]
        if rows:
            with self.db.session() as s:
                s.add_all(rows)
        return len(rows)

    def list_api_calls(self, user_id: str, limit: int) -> list[ApiCallRecord]:
        with self.db.session(readonly=True) as s:
            rows = list(
                s.scalars(
                    select(ApiCallRecord)
                    .where(ApiCallRecord.user_id == user_id)
                    .order_by(ApiCallRecord.at.desc(), ApiCallRecord.id.desc())
                    .limit(max(1, min(limit, 500)))
                )
            )
            s.expunge_all()
            return rows

    def purge_logs(self, s: DbSession, older_than: datetime) -> dict[str, int]:
        """The `logs.purge` handler's work: call log and login-failure rows before the cutoff."""
        calls = s.execute(delete(ApiCallRecord).where(ApiCallRecord.at < older_than))
        counts = {
            "api_calls": rowcount(calls),
            "login_failures": self.throttle.purge(s, older_than),
        }
        log.info("logs_purged", **counts)
        return counts
