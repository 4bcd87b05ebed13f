"""Auth use cases against a real (SQLite) database and the file mail transport."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from urllib.parse import parse_qs, urlparse

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text

from picopt.demo import mail_text
from picopt.events.v1 import events_pb2
from picopt.kernel.db import utcnow
from picopt.kernel.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from services.auth import credentials
from services.auth.grpc_api import mask_subject
from services.auth.models import OAuthState, User
from services.auth.oauth import OAuthSignIn, Provider
from services.auth.service import ApiCall, LoginThrottled
from services.auth.tests.support import PASSWORD, Env


def test_signup_sends_a_confirmation_and_confirming_announces_the_email_digest(env: Env) -> None:
    env.service.sign_up("Ada", "Ada@Example.test ", PASSWORD)
    token = env.token("ada@example.test")
    with env.db.session() as s:
        user = s.scalar(select(User))
        assert user is not None and user.email_confirmed_at is None
        stored = s.execute(text("SELECT token_hash FROM email_tokens")).scalar()
    assert stored == credentials.token_digest(token) != token
    confirmed = env.service.confirm_email(token)
    assert confirmed.email_confirmed_at is not None
    (raw,) = env.events("account.confirmed")
    payload = events_pb2.AccountConfirmed.FromString(events_pb2.Envelope.FromString(raw).payload)
    assert payload.user_id == confirmed.id
    assert payload.email_digest == env.service.email_digest("ada@example.test")
    assert len(env.events("account.created")) == 1
    with pytest.raises(InvalidArgument) as used:
        env.service.confirm_email(token)
    assert used.value.code == "invalid_token"


def test_signup_with_a_taken_email_answers_the_same_and_mails_the_owner(env: Env) -> None:
    env.signed_up()
    env.service.sign_up("Mallory", "ada@example.test", "another passphrase 1")
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
        env.service.sign_up("Ada", "ada@example.test", password)
    assert err.value.code == code


def test_expired_confirmation_token_is_refused(env: Env) -> None:
    env.service.sign_up("Ada", "ada@example.test", PASSWORD)
    token = env.token("ada@example.test")
    with env.db.session() as s:
        s.execute(text("UPDATE email_tokens SET expires_at = :t"), {"t": utcnow() - timedelta(1)})
    with pytest.raises(InvalidArgument):
        env.service.confirm_email(token)


def test_login_rehashes_weaker_parameters(env: Env) -> None:
    user = env.signed_up()
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with env.db.session() as s:
        s.get(User, user.id).password_hash = weak  # type: ignore[union-attr]
    env.service.log_in("ada@example.test", PASSWORD)
    with env.db.session() as s:
        stored = s.get(User, user.id).password_hash  # type: ignore[union-attr]
    assert stored is not None
    assert stored != weak and "m=19456,t=2,p=1" in stored


def test_failed_logins_are_throttled_per_account_even_for_the_right_password(env: Env) -> None:
    env.signed_up()
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            env.service.log_in("ada@example.test", "wrong password!", "10.0.0.1")
    with pytest.raises(Unauthenticated):  # the 4th failure sets the lock
        env.service.log_in("ada@example.test", "wrong password!", "10.0.0.2")
    with pytest.raises(LoginThrottled) as throttled:
        env.service.log_in("ada@example.test", PASSWORD, "10.0.0.3")
    assert 0 < throttled.value.retry_after_s <= 60
    # An unknown address behaves exactly the same (no enumeration).
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            env.service.log_in("nobody@example.test", "wrong password!", "10.0.0.4")
    with pytest.raises(LoginThrottled):
        env.service.log_in("nobody@example.test", "wrong password!", "10.0.0.5")


def test_failed_logins_are_throttled_per_address_with_growing_delay(env: Env) -> None:
    for i in range(7):
        with pytest.raises(Unauthenticated):
            env.service.log_in(f"u{i}@example.test", "wrong password!", "10.9.9.9")
    with pytest.raises(LoginThrottled) as first:
        env.service.log_in("other@example.test", "wrong password!", "10.9.9.9")
    with env.db.session() as s:
        s.execute(text("UPDATE login_failures SET locked_until = NULL"))
    with pytest.raises(Unauthenticated):
        env.service.log_in("u9@example.test", "wrong password!", "10.9.9.9")
    with pytest.raises(LoginThrottled) as second:
        env.service.log_in("other@example.test", "wrong password!", "10.9.9.9")
    assert second.value.retry_after_s > first.value.retry_after_s


def test_sessions_expire_when_idle_and_rotate_on_login(env: Env) -> None:
    env.signed_up()
    first = env.service.log_in("ada@example.test", PASSWORD)
    second = env.service.log_in("ada@example.test", PASSWORD, previous_token=first.token)
    with pytest.raises(Unauthenticated):
        env.service.authenticate_session(first.token)
    assert env.service.authenticate_session(second.token) == second.user.id
    with env.db.session() as s:
        s.execute(
            text("UPDATE sessions SET last_seen_at = :t"), {"t": utcnow() - timedelta(hours=1)}
        )
    with pytest.raises(Unauthenticated):
        env.service.authenticate_session(second.token)


def test_absolute_expiry_and_logout_everywhere(env: Env) -> None:
    env.signed_up()
    a = env.service.log_in("ada@example.test", PASSWORD)
    b = env.service.log_in("ada@example.test", PASSWORD)
    with env.db.session() as s:
        s.execute(text("UPDATE sessions SET expires_at = :t"), {"t": utcnow() - timedelta(1)})
    with pytest.raises(Unauthenticated):
        env.service.authenticate_session(a.token)
    c = env.service.log_in("ada@example.test", PASSWORD)
    assert env.service.log_out_everywhere(c.user.id) == (2, 0)  # b (expired, unswept) and c
    for token in (b.token, c.token):
        with pytest.raises(Unauthenticated):
            env.service.authenticate_session(token)


def test_password_reset_is_single_use_and_ends_sessions(env: Env) -> None:
    env.signed_up()
    session = env.service.log_in("ada@example.test", PASSWORD)
    env.service.request_password_reset("ada@example.test")
    env.service.request_password_reset("nobody@example.test")  # silently nothing
    assert env.mails("nobody@example.test") == []
    token = env.token("ada@example.test")
    env.service.reset_password(token, "a brand new passphrase")
    with pytest.raises(Unauthenticated):
        env.service.authenticate_session(session.token)
    with pytest.raises(InvalidArgument):
        env.service.reset_password(token, "yet another passphrase")
    env.service.log_in("ada@example.test", "a brand new passphrase")


def test_change_password_needs_the_current_one_and_rotates(env: Env) -> None:
    user = env.signed_up()
    old = env.service.log_in("ada@example.test", PASSWORD)
    with pytest.raises(Unauthenticated):
        env.service.change_password(user.id, "not my password", "a brand new passphrase")
    token, _ = env.service.change_password(user.id, PASSWORD, "a brand new passphrase")
    with pytest.raises(Unauthenticated):
        env.service.authenticate_session(old.token)
    assert env.service.authenticate_session(token) == user.id


def test_email_change_waits_for_confirmation_of_the_new_address(env: Env) -> None:
    user = env.signed_up()
    other = env.signed_up("bob@example.test")
    with pytest.raises(Unauthenticated):
        env.service.update_account(user.id, email="new@example.test", current_password="nope")
    updated = env.service.update_account(
        user.id, name="Ada L.", email="new@example.test", current_password=PASSWORD
    )
    assert (updated.name, updated.email, updated.pending_email) == (
        "Ada L.",
        "ada@example.test",
        "new@example.test",
    )
    assert "asked to move it" in env.mails("ada@example.test")[-1]
    assert env.service.confirm_email(env.token("new@example.test")).email == "new@example.test"
    env.service.log_in("new@example.test", PASSWORD)
    env.service.update_account(other.id, email="bob2@example.test", current_password=PASSWORD)
    # account.confirmed is announced once per account, not for later changes.
    assert len(env.events("account.confirmed")) == 2


def test_email_change_to_a_taken_address_fails_at_confirmation(env: Env) -> None:
    user = env.signed_up()
    env.signed_up("bob@example.test")
    env.service.update_account(user.id, email="bob@example.test", current_password=PASSWORD)
    with pytest.raises(AlreadyExists):
        env.service.confirm_email(env.token("bob@example.test"))


def test_api_keys_are_stored_as_keyed_hashes_and_revocable(env: Env) -> None:
    user = env.signed_up()
    key_row, key = env.service.create_api_key(user.id, "ci")
    assert key.startswith("po_live_")
    assert env.service.authenticate_api_key(key) == (user.id, key_row.id)
    with env.db.session() as s:
        dump = " ".join(str(v) for row in s.execute(text("SELECT * FROM api_keys")) for v in row)
    assert key not in dump and key.split("_")[-1] not in dump
    with pytest.raises(Unauthenticated):
        env.service.authenticate_api_key(key[:-1] + ("A" if key[-1] != "A" else "B"))
    with pytest.raises(NotFound):
        env.service.revoke_api_key("someone-else", key_row.id)
    env.service.revoke_api_key(user.id, key_row.id)
    with pytest.raises(Unauthenticated):
        env.service.authenticate_api_key(key)


def test_disable_revokes_everything_and_erase_deletes_everything(env: Env) -> None:
    user = env.signed_up()
    session = env.service.log_in("ada@example.test", PASSWORD)
    _, key = env.service.create_api_key(user.id, "ci")
    env.service.record_api_calls([ApiCall(user.id, "GET", "/v1/jobs", 200, 3, utcnow())])
    with env.db.session() as s:
        counts = env.service.disable_user(s, user.id)
    assert counts["sessions"] == 1 and counts["api_keys"] == 1
    with pytest.raises(Unauthenticated):
        env.service.authenticate_session(session.token)
    with pytest.raises(Unauthenticated):
        env.service.authenticate_api_key(key)
    with pytest.raises(Unauthenticated):
        env.service.log_in("ada@example.test", PASSWORD)
    with env.db.session() as s:
        erased = env.service.erase_user(s, user.id)
    assert erased["users"] == 1 and erased["api_calls"] == 1 and erased["api_keys"] == 1
    with env.db.session() as s:
        for table in ("users", "api_keys", "sessions", "email_tokens", "api_calls"):
            assert s.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


def test_call_log_lists_newest_first_and_purges_by_age(env: Env) -> None:
    user = env.signed_up()
    old, recent = utcnow() - timedelta(days=100), utcnow()
    env.service.record_api_calls(
        [
            ApiCall(user.id, "GET", "/v1/jobs/<job_id>", 200, 5, old),
            ApiCall(user.id, "POST", "/v1/jobs", 202, 40, recent, key_id="k1"),
        ]
    )
    calls = env.service.list_api_calls(user.id, 10)
    assert [c.route for c in calls] == ["/v1/jobs", "/v1/jobs/<job_id>"]
    assert env.service.list_api_calls("someone-else", 10) == []
    with env.db.session() as s:
        counts = env.service.purge_logs(s, utcnow() - timedelta(days=90))
    assert counts["api_calls"] == 1
    assert [c.route for c in env.service.list_api_calls(user.id, 10)] == ["/v1/jobs"]


def test_token_mails_link_to_the_web_app_in_text_and_html(env: Env) -> None:
    user = env.signed_up()
    env.service.request_password_reset(user.email)
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

    env.service.sign_up("Bo", "bo@example.test", PASSWORD)
    assert (
        f"http://x/app/confirm#token={env.token('bo@example.test')}"
        in env.mails("bo@example.test")[-1]
    )


def test_sign_in_methods_and_unlinking_keep_a_way_in(env: Env) -> None:
    password_user = env.signed_up()
    env.service.sign_in_external("corp", "subject-0001", password_user.email, True, "Ada")
    env.service.sign_in_external("github", "77", password_user.email, True, "Ada")
    methods = env.service.sign_in_methods(password_user.id)
    assert methods.has_password
    assert [(i.provider, i.subject) for i in methods.identities] == [
        ("corp", "subject-0001"),
        ("github", "77"),
    ]
    assert mask_subject("subject-0001") == "••••0001" and mask_subject("77") == "••••"
    for identity in methods.identities:
        env.service.unlink_identity(password_user.id, identity.id)  # the password remains
    assert env.service.sign_in_methods(password_user.id).identities == []

    signed, created = env.service.sign_in_external("corp", "sub-b", "b@example.test", True, "B")
    assert created
    env.service.sign_in_external("github", "88", "b@example.test", True, "B")
    first, second = env.service.sign_in_methods(signed.user.id).identities
    with pytest.raises(NotFound):
        env.service.unlink_identity(password_user.id, first.id)  # not theirs
    env.service.unlink_identity(signed.user.id, first.id)
    with pytest.raises(FailedPrecondition) as last:
        env.service.unlink_identity(signed.user.id, second.id)
    assert last.value.code == "last_sign_in_method"
    assert [i.id for i in env.service.sign_in_methods(signed.user.id).identities] == [second.id]


def test_oauth_start_keeps_a_web_app_page_and_refuses_anything_else(env: Env) -> None:
    oauth = OAuthSignIn(env.service, {"github": Provider("github", "client", "secret")})
    url, state = oauth.start("github", "http://x/v1/auth/oauth/github/callback", "/app/account")
    assert parse_qs(urlparse(url).query)["state"] == [state]
    with env.db.session(readonly=True) as s:
        assert s.get(OAuthState, credentials.token_digest(state)).next_path == "/app/account"  # type: ignore[union-attr]
    for bad in ("https://evil.test/app", "//evil.test/app", "/app/../v1", "/v1/account", "app"):
        with pytest.raises(InvalidArgument) as refused:
            oauth.start("github", "http://x/cb", bad)
        assert refused.value.code == "invalid_next"
