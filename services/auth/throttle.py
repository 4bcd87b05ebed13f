"""Sign-in throttling per account and per source address, with growing delay.

Counters are keyed by an HMAC of the email or the address, so the table
holds neither, and an unknown email is throttled exactly like a known one
(no enumeration). Every attempt is counted before the password is checked, in
the same transaction as the check of the lock (`attempt`), so parallel guesses
cannot slip past a lock they have not seen yet; a correct password forgives the
attempts of its account and of the address it came from (`succeeded`), so a few
people mistyping behind one address never lock out everyone else there. After
`free_failures` the key is locked for `base * 2**(extra failures - 1)` seconds,
capped at `max_delay`.
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
from picopt.kernel.errors import ResourceExhausted
from services.auth.models import LoginFailure
from services.auth.rows import rowcount


class LoginThrottled(ResourceExhausted):
    """Too many failed attempts for this account or address: wait `retry_after_s`."""

    code = "login_throttled"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


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

    def attempt(self, s: Session, keys: list[tuple[str, int]], now: datetime) -> int:
        """Check the locks and count this attempt against every key, in one transaction.

        Returns the seconds until the most restrictive lock ends; a refused attempt
        (non-zero) is not counted. The rows are locked in the order of `keys` (account,
        then address), the same order for every caller, so attempts cannot deadlock.
        """
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        rows = []
        for key, free in keys:
            s.execute(
                insert(LoginFailure)
                .values(key=key, failures=0, last_failed_at=now)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            row = s.get(LoginFailure, key, with_for_update=True, populate_existing=True)
            assert row is not None
            rows.append((row, free))
        wait = max(
            ((as_utc(r.locked_until) - now).total_seconds() for r, _ in rows if r.locked_until),
            default=0.0,
        )
        if wait > 0:
            return math.ceil(wait)
        for row, free in rows:
            row.failures += 1
            row.last_failed_at = now
            extra = row.failures - free
            if extra > 0:
                delay = min(self.config.base_delay_s * 2 ** (extra - 1), self.config.max_delay_s)
                row.locked_until = now + timedelta(seconds=delay)
        return 0

    def succeeded(self, s: Session, keys: list[tuple[str, int]]) -> None:
        """A correct password clears the counters of its account and of its address."""
        s.execute(delete(LoginFailure).where(LoginFailure.key.in_([key for key, _ in keys])))

    def purge(self, s: Session, older_than: datetime) -> int:
        result = s.execute(delete(LoginFailure).where(LoginFailure.last_failed_at < older_than))
        return rowcount(result)
