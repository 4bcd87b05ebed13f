"""What auth forgets on its own schedule: spent email tokens and abandoned sign-ups.

Both hold someone's address (a sign-up also a name, and its token the chosen
password's hash), often someone who never asked for an account. The auth service
runs `IdentityExpiry.purge` every AUTH_PURGE_INTERVAL_S (an hour):

- an email token goes once it is used or expired (a used token's row is not needed to
  refuse it again: an unknown token is refused the same way);
- an account whose address was never confirmed goes UNCONFIRMED_ACCOUNT_TTL_S (7 days,
  at least EMAIL_CONFIRM_TTL_S, at most 30 days) after it was created, with its rows,
  unless a later sign-up's confirmation mail is still open.
  Such an account can do nothing, so no other service holds anything about it; an
  unconfirmed account with API keys or API calls on record (made before confirmation
  was required) is left for a staff erasure, which reaches every service, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, or_, select

from picopt.kernel.db import Database, utcnow
from picopt.kernel.logs import get_logger
from picopt.kernel.settings import Env, SettingsError
from services.auth.models import ApiCallRecord, ApiKey, EmailToken, OAuthIdentity, Session, User
from services.auth.rows import rowcount

log = get_logger(__name__)

MAX_UNCONFIRMED_TTL = timedelta(days=30)


@dataclass(frozen=True)
class ExpiryConfig:
    unconfirmed_ttl: timedelta = timedelta(days=7)
    interval_s: float = 3600.0

    @classmethod
    def from_env(cls, env: Env, confirm_ttl: timedelta) -> ExpiryConfig:
        """Refuses a lifetime that would delete accounts whose confirmation mail still works,
        or keep them beyond the 30 days the privacy policy allows for data nobody asked for."""
        ttl = timedelta(seconds=env.int("UNCONFIRMED_ACCOUNT_TTL_S", 7 * 86_400))
        if ttl < confirm_ttl:
            raise SettingsError(
                "UNCONFIRMED_ACCOUNT_TTL_S must be at least EMAIL_CONFIRM_TTL_S "
                f"({int(confirm_ttl.total_seconds())} s)"
            )
        if ttl > MAX_UNCONFIRMED_TTL:
            raise SettingsError("UNCONFIRMED_ACCOUNT_TTL_S must be at most 30 days (2592000 s)")
        interval = env.float("AUTH_PURGE_INTERVAL_S", 3600.0)
        if not 0 < interval <= 86_400:
            raise SettingsError("AUTH_PURGE_INTERVAL_S must be between 0 and 86400 s")
        return cls(unconfirmed_ttl=ttl, interval_s=interval)


class IdentityExpiry:
    def __init__(self, db: Database, config: ExpiryConfig) -> None:
        self.db = db
        self.config = config

    def purge(self, now: datetime | None = None) -> dict[str, int]:
        now = now or utcnow()
        with self.db.session() as s:
            tokens = s.execute(
                delete(EmailToken).where(
                    or_(EmailToken.used_at.is_not(None), EmailToken.expires_at <= now)
                )
            )
            stale = (
                select(User.id)
                .where(
                    User.email_confirmed_at.is_(None),
                    User.created_at < now - self.config.unconfirmed_ttl,
                )
                .with_for_update()
            )
            # A sign-up mail still open (someone signed up again lately) keeps the account.
            stale = stale.where(~exists().where(EmailToken.user_id == User.id))
            active = or_(
                exists().where(ApiKey.user_id == User.id),
                exists().where(ApiCallRecord.user_id == User.id),
            )
            doomed = list(s.scalars(stale.where(~active)))
            kept = len(list(s.scalars(stale.where(active))))
            for model in (Session, EmailToken, OAuthIdentity):
                s.execute(delete(model).where(model.user_id.in_(doomed)))  # type: ignore[attr-defined]
            users = s.execute(delete(User).where(User.id.in_(doomed)))
        counts = {
            "email_tokens": rowcount(tokens),
            "unconfirmed_users": rowcount(users),
            "unconfirmed_users_kept": kept,
        }
        if any(counts.values()):
            log.info("identity_data_expired", **counts)
        return counts
