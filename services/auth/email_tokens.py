"""Single-use, expiring tokens sent by email (confirm, reset, change_email); only their
SHA-256 is stored, and a used or expired token is refused like an unknown one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy.orm import Session as DbSession

from picopt.kernel.db import as_utc, utcnow
from services.auth import credentials
from services.auth.models import EmailToken
from services.auth.rules import invalid_token


def new_token(
    s: DbSession,
    user_id: str,
    purpose: str,
    email: str,
    ttl: timedelta,
    name: str | None = None,
    password_hash: str | None = None,
) -> str:
    token = credentials.new_session_token()
    created = utcnow()
    s.add(
        EmailToken(
            token_hash=credentials.token_digest(token),
            user_id=user_id,
            purpose=purpose,
            email=email,
            created_at=created,
            expires_at=created + ttl,
            name=name,
            password_hash=password_hash,
        )
    )
    return token


def use_token(s: DbSession, token: str, purposes: Iterable[str]) -> EmailToken:
    row = (
        s.get(EmailToken, credentials.token_digest(token), with_for_update=True) if token else None
    )
    if (
        row is None
        or row.purpose not in set(purposes)
        or row.used_at is not None
        or as_utc(row.expires_at) <= utcnow()
    ):
        raise invalid_token()
    row.used_at = utcnow()
    return row
