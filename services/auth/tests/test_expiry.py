"""Spent email tokens and abandoned sign-ups are forgotten on auth's schedule (issue 13
item 9, issue 16): each holds someone's address, a sign-up also a name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from picopt.kernel.db import utcnow
from picopt.kernel.settings import Env as Settings
from picopt.kernel.settings import SettingsError
from services.auth.call_log import ApiCall
from services.auth.expiry import ExpiryConfig, IdentityExpiry
from services.auth.models import EmailToken, User
from services.auth.tests.support import PASSWORD, Env

DAY = timedelta(days=1)


def age(env: Env, email: str, days: float) -> str:
    """Backdate an account and its tokens by `days`; returns the user id."""
    with env.db.session() as s:
        user = s.scalar(select(User).where(User.email == email))
        assert user is not None
        user.created_at = utcnow() - days * DAY
        for token in s.scalars(select(EmailToken).where(EmailToken.user_id == user.id)):
            token.created_at -= days * DAY
            token.expires_at -= days * DAY
        return user.id


def emails(env: Env) -> set[str]:
    with env.db.session(readonly=True) as s:
        return set(s.scalars(select(User.email)))


def test_spent_tokens_and_week_old_unconfirmed_sign_ups_go(any_env: Env) -> None:
    env = any_env
    confirmed = env.signed_up("kept@example.test")  # its confirm token is used
    env.service.accounts.request_password_reset("kept@example.test")  # open: stays
    env.service.accounts.sign_up("Old", "old@example.test", PASSWORD)
    age(env, "old@example.test", 8)
    env.service.accounts.sign_up("Fresh", "fresh@example.test", PASSWORD)
    env.service.accounts.sign_up("Again", "again@example.test", PASSWORD)
    age(env, "again@example.test", 8)
    env.service.accounts.sign_up("Again", "again@example.test", PASSWORD)  # a new mail, still open
    env.service.accounts.sign_up("Busy", "busy@example.test", PASSWORD)
    busy = age(env, "busy@example.test", 8)
    env.service.call_log.record_api_calls([ApiCall(busy, "GET", "/v1/jobs", 200, 1, utcnow())])

    counts = IdentityExpiry(env.db, ExpiryConfig()).purge()

    assert emails(env) == {
        "kept@example.test",
        "fresh@example.test",
        "again@example.test",
        "busy@example.test",
    }
    assert counts == {"email_tokens": 4, "unconfirmed_users": 1, "unconfirmed_users_kept": 1}
    with env.db.session(readonly=True) as s:
        left = s.execute(text("SELECT purpose, used_at, expires_at FROM email_tokens")).all()
    assert len(left) == 3 and all(used is None for _, used, _ in left)  # reset, fresh, again
    assert env.service.sessions.log_in("kept@example.test", PASSWORD).user.id == confirmed.id


def test_a_used_confirmation_keeps_no_password_hash_until_the_purge(env: Env) -> None:
    env.signed_up("ada@example.test")
    with env.db.session(readonly=True) as s:
        (token,) = s.scalars(select(EmailToken))
    assert token.used_at is not None and token.password_hash is None and token.name is None


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"UNCONFIRMED_ACCOUNT_TTL_S": "3600"}, "at least EMAIL_CONFIRM_TTL_S"),
        ({"UNCONFIRMED_ACCOUNT_TTL_S": str(31 * 86_400)}, "at most 30 days"),
        ({"AUTH_PURGE_INTERVAL_S": "0"}, "AUTH_PURGE_INTERVAL_S"),
    ],
)
def test_lifetimes_that_break_a_promise_are_refused(settings: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        ExpiryConfig.from_env(Settings(settings), DAY)
    assert ExpiryConfig.from_env(Settings({}), DAY).unconfirmed_ttl == 7 * DAY
