"""Sessions: sign-in with a password, session tokens with absolute and idle expiry, sign-out.

Sign-in counts the attempt before the password is checked (`LoginThrottle.attempt`),
so parallel guesses cannot pass a lock they have not seen, and refuses an account whose
address is not confirmed yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DbSession

from picopt.kernel.db import Database, as_utc, utcnow
from picopt.kernel.errors import InvalidArgument, Unauthenticated
from picopt.kernel.logs import get_logger
from services.auth import credentials
from services.auth.api_keys import revoke_user_keys
from services.auth.models import EmailToken, Session, User
from services.auth.rows import rowcount
from services.auth.rules import (
    CONFIRM,
    SEEN_GRANULARITY,
    AuthConfig,
    normalize_email,
    unconfirmed,
    usable,
)
from services.auth.throttle import LoginThrottle, LoginThrottled

log = get_logger(__name__)


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str
    expires: datetime


def open_session(s: DbSession, user_id: str, ttl: timedelta) -> tuple[str, datetime]:
    """A new session token (returned once; its SHA-256 is stored) and its absolute expiry."""
    token = credentials.new_session_token()
    created = utcnow()
    expires = created + ttl
    s.add(
        Session(
            token_hash=credentials.token_digest(token),
            user_id=user_id,
            created_at=created,
            expires_at=expires,
            last_seen_at=created,
        )
    )
    return token, expires


def end_sessions(s: DbSession, user_id: str) -> int:
    result = s.execute(delete(Session).where(Session.user_id == user_id))
    return rowcount(result)


class Sessions:
    def __init__(self, db: Database, config: AuthConfig, throttle: LoginThrottle) -> None:
        self.db = db
        self.config = config
        self.throttle = throttle

    def log_in(
        self, email: str, password: str, address: str = "", previous_token: str = ""
    ) -> SignedIn:
        """Counts the attempt first (LoginThrottle.attempt), then checks the password
        outside any transaction; only a success writes again (a session, counters cleared)."""
        try:
            email = normalize_email(email)
        except InvalidArgument:
            email = ""
        keys = self.throttle.keys(email or "-", address)
        with self.db.session() as s:
            wait = self.throttle.attempt(s, keys, utcnow())
        if wait:
            log.info("login_throttled", retry_after_s=wait)
            raise LoginThrottled(wait)
        with self.db.session(readonly=True) as s:
            found = s.scalar(select(User).where(User.email == email)) if email else None
            stored = self._password_hash(s, found)
        ok = credentials.verify_password(stored, password) and found is not None
        if ok and found is not None and found.disabled_at is None and not found.email_confirmed_at:
            log.info("login_unconfirmed", user_id=found.id)
            raise unconfirmed()
        user: User | None = None
        if ok and found is not None:
            with self.db.session() as s:
                user = s.get(User, found.id)
                if user is not None and usable(user) and user.password_hash == stored:
                    if credentials.needs_rehash(stored or ""):
                        user.password_hash = credentials.hash_password(password)
                        log.info("password_rehashed", user_id=user.id)
                    self.throttle.succeeded(s, keys)
                    if previous_token:
                        s.execute(
                            delete(Session).where(
                                Session.token_hash == credentials.token_digest(previous_token)
                            )
                        )
                    token, expires = open_session(s, user.id, self.config.session_ttl)
                    s.flush()
                    s.expunge(user)
                else:
                    user = None
        if user is None:
            log.info("login_failed", user_id=found.id if found else None)
            raise Unauthenticated("email or password is wrong", code="invalid_credentials")
        log.info("user_logged_in", user_id=user.id)
        return SignedIn(user, token, expires)

    @staticmethod
    def _password_hash(s: DbSession, user: User | None) -> str | None:
        """What a password is checked against: the account's, or for an unconfirmed account
        its newest pending sign-up's (only to say "confirm first" to whoever chose it)."""
        if user is None or user.email_confirmed_at is not None:
            return user.password_hash if user else None
        return s.scalar(
            select(EmailToken.password_hash)
            .where(
                EmailToken.user_id == user.id,
                EmailToken.purpose == CONFIRM,
                EmailToken.used_at.is_(None),
                EmailToken.expires_at > utcnow(),
            )
            .order_by(EmailToken.created_at.desc())
            .limit(1)
        )

    def log_out(self, token: str) -> None:
        with self.db.session() as s:
            s.execute(delete(Session).where(Session.token_hash == credentials.token_digest(token)))

    def log_out_everywhere(self, user_id: str, revoke_api_keys: bool = False) -> tuple[int, int]:
        """Ends every session of the account and, when asked, revokes every API key too.
        Returns (sessions ended, keys revoked)."""
        with self.db.session() as s:
            ended = end_sessions(s, user_id)
            keys = revoke_user_keys(s, user_id) if revoke_api_keys else 0
        log.info(
            "logged_out_everywhere", user_id=user_id, sessions_ended=ended, api_keys_revoked=keys
        )
        return ended, keys

    def authenticate_session(self, token: str) -> str:
        invalid = Unauthenticated("session is invalid or expired", code="invalid_session")
        at = utcnow()
        with self.db.session() as s:
            session = s.get(Session, credentials.token_digest(token)) if token else None
            if session is None:
                raise invalid
            if (
                as_utc(session.expires_at) <= at
                or as_utc(session.last_seen_at) + self.config.session_idle_ttl <= at
            ):
                s.delete(session)
                expired = True
            else:
                expired = False
                if not usable(s.get(User, session.user_id)):
                    raise invalid
                if at - as_utc(session.last_seen_at) >= SEEN_GRANULARITY:
                    session.last_seen_at = at
                user_id = session.user_id
        if expired:
            raise invalid
        return user_id
