"""Accounts and credentials: sign-up, confirmation, password policy, reset and change,
email change, the mails that carry tokens (services/auth/accounts.py)."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes

import pytest
from sqlalchemy import select, text

from picopt.demo import mail_text
from picopt.events.v1 import events_pb2
from picopt.kernel.db import utcnow
from picopt.kernel.errors import AlreadyExists, InvalidArgument, Unauthenticated
from services.auth import credentials
from services.auth.models import User
from services.auth.tests.support import PASSWORD, Env


def test_signup_sends_a_confirmation_and_confirming_announces_the_email_digest(env: Env) -> None:
    env.service.accounts.sign_up("Ada", "Ada@Example.test ", PASSWORD)
    token = env.token("ada@example.test")
    with env.db.session() as s:
        user = s.scalar(select(User))
        assert user is not None and user.email_confirmed_at is None
        stored = s.execute(text("SELECT token_hash FROM email_tokens")).scalar()
    assert stored == credentials.token_digest(token) != token
    confirmed = env.service.accounts.confirm_email(token)
    assert confirmed.email_confirmed_at is not None
    (raw,) = env.events("account.confirmed")
    payload = events_pb2.AccountConfirmed.FromString(events_pb2.Envelope.FromString(raw).payload)
    assert payload.user_id == confirmed.id
    assert payload.email_digest == env.service.accounts.email_digest("ada@example.test")
    assert len(env.events("account.created")) == 1
    with pytest.raises(InvalidArgument) as used:
        env.service.accounts.confirm_email(token)
    assert used.value.code == "invalid_token"


def test_signup_with_a_taken_email_answers_the_same_and_mails_the_owner(env: Env) -> None:
    env.signed_up()
    env.service.accounts.sign_up("Mallory", "ada@example.test", "another passphrase 1")
    assert "already has an account" in env.mails("ada@example.test")[-1]
    with env.db.session() as s:
        assert len(list(s.scalars(select(User)))) == 1
    assert len(env.events("account.created")) == 1


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "invalid_password"),
        ("x" * 129, "invalid_password"),
        ("Password1", "common_password"),
        ("iloveyou", "common_password"),
    ],
)
def test_password_policy(env: Env, password: str, code: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        env.service.accounts.sign_up("Ada", "ada@example.test", password)
    assert err.value.code == code


def test_expired_confirmation_token_is_refused(env: Env) -> None:
    env.service.accounts.sign_up("Ada", "ada@example.test", PASSWORD)
    token = env.token("ada@example.test")
    with env.db.session() as s:
        s.execute(text("UPDATE email_tokens SET expires_at = :t"), {"t": utcnow() - timedelta(1)})
    with pytest.raises(InvalidArgument):
        env.service.accounts.confirm_email(token)


def test_password_reset_is_single_use_and_ends_sessions(env: Env) -> None:
    env.signed_up()
    session = env.service.sessions.log_in("ada@example.test", PASSWORD)
    env.service.accounts.request_password_reset("ada@example.test")
    env.service.accounts.request_password_reset("nobody@example.test")  # silently nothing
    assert env.mails("nobody@example.test") == []
    token = env.token("ada@example.test")
    env.service.accounts.reset_password(token, "a brand new passphrase")
    with pytest.raises(Unauthenticated):
        env.service.sessions.authenticate_session(session.token)
    with pytest.raises(InvalidArgument):
        env.service.accounts.reset_password(token, "yet another passphrase")
    env.service.sessions.log_in("ada@example.test", "a brand new passphrase")


def test_change_password_needs_the_current_one_and_rotates(env: Env) -> None:
    user = env.signed_up()
    old = env.service.sessions.log_in("ada@example.test", PASSWORD)
    with pytest.raises(Unauthenticated):
        env.service.accounts.change_password(user.id, "not my password", "a brand new passphrase")
    token, _ = env.service.accounts.change_password(user.id, PASSWORD, "a brand new passphrase")
    with pytest.raises(Unauthenticated):
        env.service.sessions.authenticate_session(old.token)
    assert env.service.sessions.authenticate_session(token) == user.id


def test_email_change_waits_for_confirmation_of_the_new_address(env: Env) -> None:
    user = env.signed_up()
    other = env.signed_up("bob@example.test")
    with pytest.raises(Unauthenticated):
        env.service.accounts.update_account(
            user.id, email="new@example.test", current_password="nope"
        )
    updated = env.service.accounts.update_account(
        user.id, name="Ada L.", email="new@example.test", current_password=PASSWORD
    )
    assert (updated.name, updated.email, updated.pending_email) == (
        "Ada L.",
        "ada@example.test",
        "new@example.test",
    )
    assert "asked to move it" in env.mails("ada@example.test")[-1]
    assert (
        env.service.accounts.confirm_email(env.token("new@example.test")).email
        == "new@example.test"
    )
    env.service.sessions.log_in("new@example.test", PASSWORD)
    env.service.accounts.update_account(
        other.id, email="bob2@example.test", current_password=PASSWORD
    )
    # account.confirmed is announced once per account, not for later changes.
    assert len(env.events("account.confirmed")) == 2


def test_email_change_to_a_taken_address_fails_at_confirmation(env: Env) -> None:
    user = env.signed_up()
    env.signed_up("bob@example.test")
    env.service.accounts.update_account(
        user.id, email="bob@example.test", current_password=PASSWORD
    )
    with pytest.raises(AlreadyExists):
        env.service.accounts.confirm_email(env.token("bob@example.test"))


def test_token_mails_link_to_the_web_app_in_text_and_html(env: Env) -> None:
    user = env.signed_up()
    env.service.accounts.request_password_reset(user.email)
    (_, reset_path), *_ = sorted(
        (p.stat().st_mtime_ns, p) for p in env.mail_dir.glob("*.eml") if "Reset" in p.read_text()
    )
    message = message_from_bytes(reset_path.read_bytes())
    assert message.get_content_type() == "multipart/alternative"
    token = env.token(user.email)
    text = mail_text(message)
    assert f"  http://x/app/reset#token={token}\n" in text
    assert "curl -X POST http://x/v1/auth/password-reset/confirm" in text
    html = next(p for p in message.walk() if p.get_content_type() == "text/html")
    body = html.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert f'<a href="http://x/app/reset#token={token}">Choose a new password</a>' in body.decode()

    env.service.accounts.sign_up("Bo", "bo@example.test", PASSWORD)
    assert (
        f"http://x/app/confirm#token={env.token('bo@example.test')}"
        in env.mails("bo@example.test")[-1]
    )
