"""Revoking every credential of an account at once: when it is claimed or disabled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session as DbSession

from services.auth.api_keys import revoke_user_keys
from services.auth.models import EmailToken
from services.auth.rows import rowcount
from services.auth.sessions import end_sessions


def revoke_credentials(s: DbSession, user_id: str, at: datetime) -> dict[str, int]:
    """End every session and revoke every API key and unused email token of the user."""
    keys = revoke_user_keys(s, user_id)
    tokens = s.execute(
        update(EmailToken)
        .where(EmailToken.user_id == user_id, EmailToken.used_at.is_(None))
        .values(used_at=at, name=None, password_hash=None)
    )
    return {
        "sessions": end_sessions(s, user_id),
        "api_keys": keys,
        "email_tokens": rowcount(tokens),
    }
