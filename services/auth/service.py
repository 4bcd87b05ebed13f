"""Auth use cases: sign-up, sign-in, sessions and API keys."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database
from picopt.kernel.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import Outbox
from services.auth import credentials
from services.auth.models import ApiKey, Session, User

log = get_logger(__name__)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class AuthConfig:
    secret: bytes
    session_ttl: timedelta = timedelta(days=14)


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything here is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidArgument("email is not a valid address", code="invalid_email")
    return email


def check_password(password: str) -> None:
    if not 8 <= len(password) <= 128:
        raise InvalidArgument("password must be 8 to 128 characters", code="invalid_password")


class AuthService:
    def __init__(self, db: Database, outbox: Outbox, config: AuthConfig) -> None:
        self.db = db
        self.outbox = outbox
        self.config = config

    def sign_up(self, name: str, email: str, password: str) -> User:
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise InvalidArgument("name must be 1 to 200 characters", code="invalid_name")
        email = normalize_email(email)
        check_password(password)
        user = User(
            id=str(uuid.uuid4()),
            name=name,
            email=email,
            password_hash=credentials.hash_password(password),
            created_at=now(),
        )
        try:
            with self.db.session() as s:
                s.add(user)
                s.flush()
                self.outbox.add(s, "account.created", events_pb2.AccountCreated(user_id=user.id))
        except IntegrityError as exc:
            raise AlreadyExists("an account with this email exists", code="email_taken") from exc
        log.info("user_signed_up", user_id=user.id)
        return user

    def log_in(self, email: str, password: str) -> tuple[User, str, datetime]:
        try:
            email = normalize_email(email)
        except InvalidArgument:
            email = ""
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.email == email)) if email else None
            ok = credentials.verify_password(user.password_hash if user else None, password)
            if not ok or user is None or user.disabled_at is not None:
                log.info("login_failed", user_id=user.id if user else None)
                raise Unauthenticated("email or password is wrong", code="invalid_credentials")
            if credentials.needs_rehash(user.password_hash):
                user.password_hash = credentials.hash_password(password)
            token = credentials.new_session_token()
            created = now()
            expires = created + self.config.session_ttl
            s.add(
                Session(
                    token_hash=credentials.token_digest(token),
                    user_id=user.id,
                    created_at=created,
                    expires_at=expires,
                    last_seen_at=created,
                )
            )
            s.expunge(user)
        log.info("user_logged_in", user_id=user.id)
        return user, token, expires

    def log_out(self, token: str) -> None:
        with self.db.session() as s:
            session = s.get(Session, credentials.token_digest(token))
            if session is not None:
                s.delete(session)

    def authenticate_session(self, token: str) -> str:
        with self.db.session() as s:
            session = s.get(Session, credentials.token_digest(token)) if token else None
            if session is None or _aware(session.expires_at) <= now():
                raise Unauthenticated("session is invalid or expired", code="invalid_session")
            user = s.get(User, session.user_id)
            if user is None or user.disabled_at is not None:
                raise Unauthenticated("session is invalid or expired", code="invalid_session")
            session.last_seen_at = now()
            return session.user_id

    def authenticate_api_key(self, key: str) -> tuple[str, str]:
        prefix = credentials.api_key_prefix(key)
        digest = credentials.api_key_digest(self.config.secret, key)
        with self.db.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
            valid = row is not None and credentials.digests_equal(row.key_hash, digest)
            if not valid or row is None or row.revoked_at is not None:
                raise Unauthenticated("API key is invalid or revoked", code="invalid_api_key")
            user = s.get(User, row.user_id)
            if user is None or user.disabled_at is not None:
                raise Unauthenticated("API key is invalid or revoked", code="invalid_api_key")
            row.last_used_at = now()
            return row.user_id, row.id

    def create_api_key(self, user_id: str, name: str) -> tuple[ApiKey, str]:
        name = (name or "default").strip()
        if len(name) > 100:
            raise InvalidArgument("key name must be at most 100 characters", code="invalid_name")
        key, prefix = credentials.new_api_key()
        row = ApiKey(
            id=str(uuid.uuid4()),
            user_id=user_id,
            name=name,
            prefix=prefix,
            key_hash=credentials.api_key_digest(self.config.secret, key),
            created_at=now(),
        )
        with self.db.session() as s:
            if s.get(User, user_id) is None:
                raise NotFound("user not found")
            s.add(row)
            s.flush()
            s.expunge(row)
        log.info("api_key_created", user_id=user_id, key_id=row.id)
        return row, key

    def list_api_keys(self, user_id: str) -> list[ApiKey]:
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(ApiKey)
                    .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
                    .order_by(ApiKey.created_at)
                )
            )
            s.expunge_all()
            return rows

    def revoke_api_key(self, user_id: str, key_id: str) -> None:
        with self.db.session() as s:
            row = s.get(ApiKey, key_id)
            if row is None or row.user_id != user_id or row.revoked_at is not None:
                raise NotFound("API key not found")
            row.revoked_at = now()
        log.info("api_key_revoked", user_id=user_id, key_id=key_id)

    def get_user(self, user_id: str) -> User:
        with self.db.session() as s:
            user = s.get(User, user_id)
            if user is None:
                raise NotFound("user not found")
            s.expunge(user)
            return user
