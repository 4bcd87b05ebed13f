"""Account takeover by pre-registration (issue 13 item 1).

Someone signs up with another person's address. Until that address is confirmed the
account can do nothing (no sign-in, API key or email change), and whoever proves the
mailbox (by confirming their own sign-up, resetting the password, or signing in with a
provider that vouches for the address) gets an account with none of the first
person's credentials left. `planted` writes the credentials an attacker could make
before this rule existed, straight into the tables, to show they die at the claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from picopt.kernel.db import Database, utcnow
from picopt.kernel.errors import FailedPrecondition, InvalidArgument, Unauthenticated
from services.auth import credentials
from services.auth.__main__ import MIGRATIONS
from services.auth.email_tokens import new_token
from services.auth.models import ApiKey, EmailToken, User
from services.auth.rules import CHANGE_EMAIL
from services.auth.sessions import open_session
from services.auth.tests.support import PASSWORD, Env

VICTIM = "victim@example.test"
ATTACKER_PASSWORD = "the attacker's passphrase"
ATTACKER_MAIL = "mallory@example.test"


@dataclass(frozen=True)
class Planted:
    """What an attacker held on a pre-registered account before the fix."""

    user_id: str
    api_key: str
    session: str
    change_token: str


def preregistered(env: Env) -> str:
    env.service.accounts.sign_up("Mallory", VICTIM, ATTACKER_PASSWORD)
    with env.db.session(readonly=True) as s:
        user = s.scalar(select(User).where(User.email == VICTIM))
        assert user is not None
        return user.id


def planted(env: Env) -> Planted:
    """A pre-registered account holding the attacker's key, session and pending change."""
    user_id = preregistered(env)
    key, prefix = credentials.new_api_key()
    with env.db.session() as s:
        s.add(
            ApiKey(
                id="planted-key",
                user_id=user_id,
                name="mallory",
                prefix=prefix,
                key_hash=credentials.api_key_digest(env.config.secret, key),
                created_at=utcnow(),
            )
        )
        session, _ = open_session(s, user_id, env.config.session_ttl)
        change = new_token(s, user_id, CHANGE_EMAIL, ATTACKER_MAIL, env.config.confirm_ttl)
        user = s.get(User, user_id)
        assert user is not None
        user.pending_email = ATTACKER_MAIL
        user.password_hash = credentials.hash_password(ATTACKER_PASSWORD)
    return Planted(user_id, key, session, change)


def assert_attacker_locked_out(env: Env, p: Planted) -> None:
    with pytest.raises(Unauthenticated):
        env.service.api_keys.authenticate_api_key(p.api_key)
    with pytest.raises(Unauthenticated):
        env.service.sessions.authenticate_session(p.session)
    with pytest.raises(InvalidArgument):
        env.service.accounts.confirm_email(p.change_token)
    with pytest.raises(Unauthenticated):
        env.service.sessions.log_in(VICTIM, ATTACKER_PASSWORD)
    user = env.service.accounts.get_user(p.user_id)
    assert (user.email, user.pending_email) == (VICTIM, None)
    with env.db.session(readonly=True) as s:
        open_tokens = s.scalars(
            select(EmailToken).where(EmailToken.user_id == p.user_id, EmailToken.used_at.is_(None))
        ).all()
    assert open_tokens == []


def test_an_unconfirmed_account_cannot_sign_in_make_keys_or_change_its_address(
    env: Env,
) -> None:
    user_id = preregistered(env)
    with pytest.raises(FailedPrecondition) as refused:
        env.service.sessions.log_in(VICTIM, ATTACKER_PASSWORD)
    assert refused.value.code == "email_unconfirmed"
    with pytest.raises(Unauthenticated):  # a wrong password learns nothing
        env.service.sessions.log_in(VICTIM, "some other passphrase")
    with pytest.raises(FailedPrecondition):
        env.service.api_keys.create_api_key(user_id, "mallory")
    with pytest.raises(FailedPrecondition):
        env.service.accounts.update_account(
            user_id, email=ATTACKER_MAIL, current_password=ATTACKER_PASSWORD
        )
    with env.db.session(readonly=True) as s:
        assert s.get(User, user_id).password_hash is None  # type: ignore[union-attr]


def test_credentials_made_before_confirmation_do_not_authenticate(env: Env) -> None:
    p = planted(env)
    with pytest.raises(Unauthenticated):
        env.service.api_keys.authenticate_api_key(p.api_key)
    with pytest.raises(Unauthenticated):
        env.service.sessions.authenticate_session(p.session)
    with pytest.raises(InvalidArgument):  # the change cannot confirm the account
        env.service.accounts.confirm_email(p.change_token)


def test_the_owner_signing_up_and_confirming_gets_their_own_credentials_only(env: Env) -> None:
    p = planted(env)
    env.service.accounts.sign_up("Ada", VICTIM, PASSWORD)
    victim_token = env.token(VICTIM)
    confirmed = env.service.accounts.confirm_email(victim_token)
    assert (confirmed.id, confirmed.name) == (p.user_id, "Ada")
    assert env.service.sessions.log_in(VICTIM, PASSWORD).user.id == p.user_id
    assert_attacker_locked_out(env, p)


def test_the_attackers_own_confirmation_mail_is_dead_once_the_owner_confirms(env: Env) -> None:
    preregistered(env)
    attackers = env.token(VICTIM)
    env.service.accounts.sign_up("Ada", VICTIM, PASSWORD)
    env.service.accounts.confirm_email(env.token(VICTIM))
    with pytest.raises(InvalidArgument):
        env.service.accounts.confirm_email(attackers)
    assert env.service.sessions.log_in(VICTIM, PASSWORD).user.name == "Ada"


def test_a_provider_sign_in_claims_the_account_and_revokes_everything(env: Env) -> None:
    p = planted(env)
    signed, created = env.service.identities.sign_in_external("corp", "sub-1", VICTIM, True, "Ada")
    assert not created and signed.user.id == p.user_id and signed.user.name == "Ada"
    assert env.service.sessions.authenticate_session(signed.token) == p.user_id
    assert_attacker_locked_out(env, p)
    assert not env.service.identities.sign_in_methods(p.user_id).has_password


def test_a_password_reset_claims_the_account_and_revokes_everything(env: Env) -> None:
    p = planted(env)
    env.service.accounts.request_password_reset(VICTIM)
    env.service.accounts.reset_password(env.token(VICTIM), "the owner's new passphrase")
    assert env.service.sessions.log_in(VICTIM, "the owner's new passphrase").user.id == p.user_id
    assert_attacker_locked_out(env, p)


def test_a_confirmed_account_keeps_its_credentials_when_a_provider_links(env: Env) -> None:
    user = env.signed_up("ada@example.test")
    _, key = env.service.api_keys.create_api_key(user.id, "ci")
    env.service.identities.sign_in_external("corp", "sub-2", "ada@example.test", True, "Other Name")
    assert env.service.api_keys.authenticate_api_key(key)[0] == user.id
    assert env.service.sessions.log_in("ada@example.test", PASSWORD).user.name == "Ada"


def test_upgrading_moves_a_pending_password_into_the_first_confirm_token(tmp_path: Path) -> None:
    """Accounts signed up before the rule: the first sign-up's choice survives in its own mail."""
    old = Database(f"sqlite:///{tmp_path / 'auth.db'}", "auth")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    token = credentials.new_session_token()
    with old.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(
            text(
                "INSERT INTO users (id, name, email, password_hash, created_at) "
                "VALUES ('u1', 'Ada', 'ada@example.test', :h, :t)"
            ),
            {"h": credentials.hash_password(PASSWORD), "t": utcnow()},
        )
        for digest, day in ((credentials.token_digest(token), 1), ("later-signup", 2)):
            connection.execute(
                text(
                    "INSERT INTO email_tokens (token_hash, user_id, purpose, email, created_at,"
                    " expires_at) VALUES (:d, 'u1', 'confirm', 'ada@example.test', :c, :e)"
                ),
                {"d": digest, "c": f"2026-01-0{day} 00:00:00", "e": "2999-01-01 00:00:00"},
            )
    old.dispose()
    env = Env(tmp_path)  # migrates to head
    try:
        with pytest.raises(Unauthenticated):
            env.service.sessions.log_in("ada@example.test", "anything at all here")
        with env.db.session(readonly=True) as s:
            assert s.get(User, "u1").password_hash is None  # type: ignore[union-attr]
            later = s.get(EmailToken, "later-signup")
            assert later is not None and later.password_hash is None
        env.service.accounts.confirm_email(token)
        assert env.service.sessions.log_in("ada@example.test", PASSWORD).user.id == "u1"
    finally:
        env.db.dispose()
