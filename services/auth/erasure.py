"""Disabling and erasing an account (for the privacy participant, services/auth/privacy.py).

Both run inside the caller's transaction (an event handler's session) and return
per-table counts for the audit trail.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session as DbSession

from picopt.kernel.db import utcnow
from picopt.kernel.logs import get_logger
from services.auth.models import (
    ApiCallRecord,
    ApiKey,
    EmailToken,
    LoginFailure,
    OAuthIdentity,
    Session,
    User,
)
from services.auth.revocation import revoke_credentials
from services.auth.rows import rowcount
from services.auth.throttle import LoginThrottle

log = get_logger(__name__)


class Erasure:
    def __init__(self, throttle: LoginThrottle) -> None:
        self.throttle = throttle

    def disable_user(self, s: DbSession, user_id: str) -> dict[str, int]:
        """Disable the account and revoke every session, API key and pending token."""
        user = s.get(User, user_id)
        if user is None:
            return {}
        at = utcnow()
        user.disabled_at = user.disabled_at or at
        counts = revoke_credentials(s, user_id, at)
        log.info("user_disabled", user_id=user_id, **counts)
        return counts

    def erase_user(self, s: DbSession, user_id: str) -> dict[str, int]:
        """Delete the user and every row auth holds about them (call log included)."""
        user = s.get(User, user_id)
        counts: dict[str, int] = {}
        for model in (Session, ApiKey, EmailToken, OAuthIdentity, ApiCallRecord):
            result = s.execute(delete(model).where(model.user_id == user_id))  # type: ignore[attr-defined]
            counts[model.__tablename__] = rowcount(result)
        if user is not None:
            failures = s.execute(
                delete(LoginFailure).where(
                    LoginFailure.key == self.throttle.account_key(user.email)
                )
            )
            counts["login_failures"] = rowcount(failures)
            s.delete(user)
        counts["users"] = 1 if user is not None else 0
        log.info("user_erased", user_id=user_id, **counts)
        return counts
