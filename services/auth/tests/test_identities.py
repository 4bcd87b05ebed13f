"""External identities (services/auth/identities.py, services/auth/oauth.py): two first
sign-ins for one address at once end in one account with nothing personal in the log
(issue 13 item 6); an issuer the operator does not trust for email reaches no account by
address (issue 13, Low list); connected sign-in methods; the OAuth start."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import structlog
from sqlalchemy import event, func, select

from picopt.kernel import logs
from picopt.kernel.errors import FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from picopt.kernel.settings import Env as Settings
from services.auth import credentials
from services.auth.grpc_api import mask_subject
from services.auth.models import OAuthIdentity, OAuthState, User
from services.auth.oauth import OAuthSignIn, Provider, providers_from_env
from services.auth.sessions import SignedIn
from services.auth.tests.support import Env

EMAIL, NAME = "grace.hopper@example.test", "Grace Brewster Hopper"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("auth", "debug", stream=stream)
    yield stream
    structlog.reset_defaults()


def racers_meet(env: Env, statement_start: str, parties: int = 2) -> None:
    """The first `parties` statements starting so wait for each other: every racer has
    looked and found nothing before any of them goes on to write."""
    barrier = threading.Barrier(parties)
    waiting = iter(range(parties))
    lock = threading.Lock()

    @event.listens_for(env.db.engine, "before_cursor_execute")
    def meet(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith(statement_start):
            with lock:
                turn = next(waiting, None)
            if turn is not None:
                barrier.wait(timeout=10)


def race(env: Env, people: list[tuple[str, str, str]]) -> list[SignedIn | BaseException]:
    results: list[SignedIn | BaseException] = []

    def sign_in(provider: str, subject: str, email: str) -> None:
        try:
            results.append(
                env.service.identities.sign_in_external(provider, subject, email, True, NAME)[0]
            )
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=sign_in, args=person) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_first_sign_ins_for_one_address_make_one_account(
    pg_env: Env, captured: io.StringIO
) -> None:
    racers_meet(pg_env, "INSERT INTO users ")
    results = race(pg_env, [("corp", "sub-a", EMAIL), ("github", "4242", EMAIL)])
    assert all(isinstance(r, SignedIn) for r in results), results
    assert len({r.user.id for r in results if isinstance(r, SignedIn)}) == 1
    with pg_env.db.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 1
        assert s.scalar(select(func.count()).select_from(OAuthIdentity)) == 2
    logged = captured.getvalue()
    assert "external_sign_in_raced" in logged
    for personal in (EMAIL, NAME, "grace.hopper", "argon2"):
        assert personal not in logged


def test_one_identity_signing_in_twice_at_once_links_once(pg_env: Env) -> None:
    first, _ = pg_env.service.identities.sign_in_external("corp", "sub-0", EMAIL, True, NAME)
    # Both have found no identity; the account's row lock then lets one link at a time.
    racers_meet(pg_env, "SELECT users.id")
    results = race(pg_env, [("github", "77", EMAIL), ("github", "77", EMAIL)])
    assert all(isinstance(r, SignedIn) and r.user.id == first.user.id for r in results), results
    with pg_env.db.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(OAuthIdentity)) == 2


def test_an_issuer_not_trusted_for_email_cannot_reach_accounts_by_address(env: Env) -> None:
    """Whoever runs a generic issuer can put anyone's address in an ID token."""
    victim = env.signed_up("victim@example.test")
    with pytest.raises(Unauthenticated) as refused:
        env.service.identities.sign_in_external(
            "partner", "evil-1", "victim@example.test", True, "Mallory", trusted_email=False
        )
    assert refused.value.code == "oauth_link_requires_sign_in"
    assert env.service.identities.sign_in_methods(victim.id).identities == []
    with pytest.raises(Unauthenticated):  # nor create an account for a new address
        env.service.identities.sign_in_external(
            "partner", "evil-2", "new@example.test", True, "Mallory", trusted_email=False
        )
    with env.db.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 1


def test_such_an_issuer_connects_to_the_account_signed_in_and_then_signs_it_in(env: Env) -> None:
    ada = env.signed_up("ada@example.test")
    linked, created = env.service.identities.sign_in_external(
        "partner",
        "p-7",
        "ada@corp.test",
        True,
        "Ada",
        trusted_email=False,
        signed_in_user_id=ada.id,
    )
    assert (linked.user.id, created) == (ada.id, False)
    again, _ = env.service.identities.sign_in_external(
        "partner", "p-7", "", False, "", trusted_email=False
    )
    assert again.user.id == ada.id  # a connected identity signs in without any email


def test_only_github_google_and_named_issuers_are_trusted_for_email() -> None:
    env = Settings(
        {
            "OAUTH_PROVIDERS": "github,google,corp,partner",
            **{f"OAUTH_{n}_CLIENT_ID": "id" for n in ("GITHUB", "GOOGLE", "CORP", "PARTNER")},
            "OAUTH_CORP_ISSUER": "https://sso.corp.test",
            "OAUTH_PARTNER_ISSUER": "https://id.partner.test",
            "OAUTH_CORP_TRUST_EMAIL": "true",
        }
    )
    trusted = {name: p.trust_email for name, p in providers_from_env(env).items()}
    assert trusted == {"github": True, "google": True, "corp": True, "partner": False}


def test_sign_in_methods_and_unlinking_keep_a_way_in(env: Env) -> None:
    password_user = env.signed_up()
    env.service.identities.sign_in_external(
        "corp", "subject-0001", password_user.email, True, "Ada"
    )
    env.service.identities.sign_in_external("github", "77", password_user.email, True, "Ada")
    methods = env.service.identities.sign_in_methods(password_user.id)
    assert methods.has_password
    assert [(i.provider, i.subject) for i in methods.identities] == [
        ("corp", "subject-0001"),
        ("github", "77"),
    ]
    assert mask_subject("subject-0001") == "••••0001" and mask_subject("77") == "••••"
    for identity in methods.identities:
        env.service.identities.unlink_identity(
            password_user.id, identity.id
        )  # the password remains
    assert env.service.identities.sign_in_methods(password_user.id).identities == []

    signed, created = env.service.identities.sign_in_external(
        "corp", "sub-b", "b@example.test", True, "B"
    )
    assert created
    env.service.identities.sign_in_external("github", "88", "b@example.test", True, "B")
    first, second = env.service.identities.sign_in_methods(signed.user.id).identities
    with pytest.raises(NotFound):
        env.service.identities.unlink_identity(password_user.id, first.id)  # not theirs
    env.service.identities.unlink_identity(signed.user.id, first.id)
    with pytest.raises(FailedPrecondition) as last:
        env.service.identities.unlink_identity(signed.user.id, second.id)
    assert last.value.code == "last_sign_in_method"
    assert [i.id for i in env.service.identities.sign_in_methods(signed.user.id).identities] == [
        second.id
    ]


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
