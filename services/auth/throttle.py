"""Failed-login throttling per account and per source address, with growing delay.

Counters are keyed by an HMAC of the email or the address, so the table
holds neither, and an unknown email is throttled exactly like a known one
(no enumeration). After `free_failures` the key is locked for
`base * 2**(extra failures - 1)` seconds, capped at `max_delay`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from picopt.kernel.db import as_utc
from services.auth.models import LoginFailure
from services.auth.rows import rowcount


@dataclass(frozen=True)
class ThrottleConfig:
    account_free_failures: int = 5
    address_free_failures: int = 20
    base_delay_s: float = 5.0
    max_delay_s: float = 900.0


class LoginThrottle:
    def __init__(self, secret: bytes, config: ThrottleConfig) -> None:
        self.secret = secret
        self.config = config

    def keys(self, email: str, address: str) -> list[tuple[str, int]]:
        """(key, free failures) for the account and, when known, the address."""
        found = [(self._key("email", email), self.config.account_free_failures)]
        if address:
            found.append((self._key("addr", address), self.config.address_free_failures))
        return found

    def account_key(self, email: str) -> str:
        return self._key("email", email)

    def _key(self, kind: str, value: str) -> str:
        return hmac.new(
            self.secret, f"throttle:{kind}:{value}".encode(), hashlib.sha256
        ).hexdigest()

    def retry_after(self, s: Session, keys: list[tuple[str, int]], now: datetime) -> int:
        """Seconds until the most restrictive lock ends (0 when free to try)."""
        wait = 0.0
        for key, _ in keys:
            row = s.get(LoginFailure, key)
            if row is not None and row.locked_until is not None:
                wait = max(wait, (as_utc(row.locked_until) - now).total_seconds())
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, s: Session, keys: list[tuple[str, int]], now: datetime) -> None:
        for key, free in keys:
            insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
            s.execute(
                insert(LoginFailure)
                .values(key=key, failures=0, last_failed_at=now)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            row = s.get(LoginFailure, key, with_for_update=True, populate_existing=True)
            assert row is not None
            row.failures += 1
            row.last_failed_at = now
            extra = row.failures - free
            if extra > 0:
                delay = min(self.config.base_delay_s * 2 ** (extra - 1), self.config.max_delay_s)
                row.locked_until = now + timedelta(seconds=delay)

    def succeeded(self, s: Session, email: str) -> None:
        """A correct password clears the account's counter (not the address's)."""
        s.execute(delete(LoginFailure).where(LoginFailure.key == self.account_key(email)))

    def purge(self, s: Session, older_than: datetime) -> int:
        result = s.execute(delete(LoginFailure).where(LoginFailure.last_failed_at < older_than))
        return rowcount(result)
