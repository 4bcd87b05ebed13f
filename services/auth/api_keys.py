"""API keys: a public lookup prefix and an HMAC-SHA-256 of the whole key under AUTH_SECRET.

During a rotation a key hashed under an old secret (AUTH_SECRETS_OLD) still verifies and
is hashed again under the current one the first time it is used.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from picopt.kernel.db import Database, as_utc, utcnow
from picopt.kernel.errors import InvalidArgument, NotFound, Unauthenticated
from picopt.kernel.logs import get_logger
from services.auth import credentials
from services.auth.models import ApiKey, User
from services.auth.rows import rowcount
from services.auth.rules import SEEN_GRANULARITY, AuthConfig, unconfirmed, usable

log = get_logger(__name__)


def revoke_user_keys(s: DbSession, user_id: str) -> int:
    result = s.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return rowcount(result)


class ApiKeys:
    def __init__(self, db: Database, config: AuthConfig) -> None:
        self.db = db
        self.config = config

    def authenticate_api_key(self, key: str) -> tuple[str, str]:
        prefix = credentials.api_key_prefix(key)
        digest = credentials.api_key_digest(self.config.secret, key)
        invalid = Unauthenticated("API key is invalid or revoked", code="invalid_api_key")
        with self.db.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
            stored = row.key_hash if row else "0" * 64
            valid = credentials.digests_equal(stored, digest)
            if not valid and row is not None and self._hashed_under_old_secret(stored, key):
                row.key_hash, valid = digest, True  # moves to the current secret
                log.info("api_key_rehashed", key_id=row.id)
            if not valid or row is None or row.revoked_at is not None:
                raise invalid
            if not usable(s.get(User, row.user_id)):
                raise invalid
            at = utcnow()
            if row.last_used_at is None or at - as_utc(row.last_used_at) >= SEEN_GRANULARITY:
                row.last_used_at = at
            return row.user_id, row.id

    def _hashed_under_old_secret(self, stored: str, key: str) -> bool:
        return any(
            credentials.digests_equal(stored, credentials.api_key_digest(old, key))
            for old in self.config.old_secrets
        )

    def create_api_key(self, user_id: str, name: str) -> tuple[ApiKey, str]:
        name = (name or "default").strip()
        if not 1 <= len(name) <= 100:
            raise InvalidArgument("key name must be 1 to 100 characters", code="invalid_name")
        key, prefix = credentials.new_api_key()
        row = ApiKey(
            id=str(uuid.uuid4()),
            user_id=user_id,
            name=name,
            prefix=prefix,
            key_hash=credentials.api_key_digest(self.config.secret, key),
            created_at=utcnow(),
        )
        with self.db.session() as s:
            user = s.get(User, user_id)
            if user is None or user.disabled_at is not None:
                raise NotFound("user not found")
            if user.email_confirmed_at is None:
                raise unconfirmed()
            s.add(row)
            s.flush()
            s.expunge(row)
        log.info("api_key_created", user_id=user_id, key_id=row.id)
        return row, key

    def list_api_keys(self, user_id: str) -> list[ApiKey]:
        with self.db.session(readonly=True) as s:
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
            row.revoked_at = utcnow()
        log.info("api_key_revoked", user_id=user_id, key_id=key_id)
