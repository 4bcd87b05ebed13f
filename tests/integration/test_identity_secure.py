"""Identity configured as in production, through the real services.

The gateway sits behind a trusted TLS proxy (X-Forwarded-Proto), cookies are
Secure, mail goes over SMTP with STARTTLS and AUTH (aiosmtpd), and sign-in
works against a real OpenID Connect provider on loopback (authlib's
AuthorizationServer over HTTPS: discovery, JWKS, PKCE, RS256 ID tokens).
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import psycopg
import pytest
import requests

from picopt.devstack import Stack
from picopt.kernel.tests.test_mailer import PASSWORD as SMTP_PASSWORD
from picopt.kernel.tests.test_mailer import USER as SMTP_USER
from picopt.kernel.tests.test_mailer import SmtpServer, start_smtp
from tests.integration.conftest import wait_for
from tests.integration.harness import running_stack
from tests.integration.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider, Person
from tests.integration.test_identity import auth_rows

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
PUBLIC_URL = "https://photos.example.test"
CALLBACK = f"{PUBLIC_URL}/v1/auth/oauth/corp/callback"
HTTPS = {"X-Forwarded-Proto": "https"}
JSON = "application/json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


# -- the stack ----------------------------------------------------------------------------


@dataclass
class World:
    stack: Stack
    provider: OidcProvider
    smtp: SmtpServer

    @property
    def gateway(self) -> str:
        return self.stack.gateway_url()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("identity-secure")
    controller, smtp = start_smtp(tmp / "tls")
    try:
        cert, key = smtp.ca_file, smtp.ca_file.with_name("key.pem")
        with OidcProvider(cert, key, CALLBACK) as provider:
            env = {
                "SESSION_COOKIE_SECURE": "true",
                "TRUSTED_PROXIES": "1",
                "PUBLIC_URL": PUBLIC_URL,
                "RATE_LIMIT_DEFAULT": "1000/minute",
                "RATE_LIMIT_AUTH": "1000/minute",
                "MAIL_TRANSPORT": "smtp",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp.port),
                "SMTP_USERNAME": SMTP_USER,
                "SMTP_PASSWORD": SMTP_PASSWORD,
                "SMTP_CA_FILE": str(smtp.ca_file),
                "OAUTH_PROVIDERS": "corp",
                "OAUTH_CORP_CLIENT_ID": CLIENT_ID,
                "OAUTH_CORP_CLIENT_SECRET": CLIENT_SECRET,
                "OAUTH_CORP_TRUST_EMAIL": "true",  # links and creates by verified email
                "OAUTH_CORP_ISSUER": provider.issuer,
                # The provider's certificate is self-signed: trust it the standard way.
                "REQUESTS_CA_BUNDLE": str(smtp.ca_file),
            }
            with running_stack(tmp, extra_env=env) as stack:
                yield World(stack, provider, smtp)
    finally:
        controller.stop()


def set_cookies(response: requests.Response) -> dict[str, str]:
    """Raw Set-Cookie headers by cookie name (requests' jar would hide the flags)."""
    raw = response.raw.headers.getlist("Set-Cookie")
    return {header.split("=", 1)[0]: header for header in raw}


def cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def mailed_token(world: World, to: str, after: int = 0) -> str:
    """The token from the last mail the SMTP server took for `to` (among those from index
    `after` on: pass `len(world.smtp.inbox.messages)` taken before the action that mails)."""

    def find() -> str | None:
        inbox = world.smtp.inbox
        for message, rcpts in zip(
            reversed(inbox.messages[after:]), reversed(inbox.recipients[after:]), strict=True
        ):
            if rcpts == [to]:
                body = message.get_body(("plain",))
                assert body is not None
                match = re.search(r"Token: (\S+)", body.get_content())
                return match.group(1) if match else None
        return None

    return wait_for(find, timeout=30)


def db_scalar(world: World, sql: str, *params: Any) -> Any:
    url = world.stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def sign_up(world: World, email: str, name: str = "Ada", password: str = PASSWORD) -> None:
    reply = requests.post(
        world.gateway + "/v1/auth/signup",
        json={"name": name, "email": email, "password": password},
        headers=HTTPS,
        timeout=10,
    )
    assert reply.status_code == 202


def confirm(world: World, email: str, after: int = 0) -> str:
    """Follow the newest confirmation mail to `email`; returns the user id."""
    confirmed = requests.post(
        world.gateway + "/v1/auth/confirm",
        json={"token": mailed_token(world, email, after=after)},
        headers=HTTPS,
        timeout=10,
    )
    assert confirmed.status_code == 200, confirmed.text
    return str(confirmed.json()["user"]["id"])


def signed_up(world: World) -> tuple[str, str]:
    """A confirmed password account: (email, user id)."""
    email = f"sec-{uuid.uuid4().hex[:10]}@example.test"
    sign_up(world, email)
    return email, confirm(world, email)


# The CSRF token each session came with (a browser keeps it in its __Host-csrf cookie).
CSRF: dict[str, str] = {}


def session_of(response: requests.Response) -> str:
    cookies = set_cookies(response)
    session = cookie_value(cookies["__Host-session"])
    CSRF[session] = cookie_value(cookies["__Host-csrf"])
    return session


def account(world: World, session: str) -> requests.Response:
    return requests.get(
        world.gateway + "/v1/account",
        headers={**HTTPS, "Cookie": f"__Host-session={session}"},
        timeout=10,
    )


def oidc_sign_in(
    world: World,
    person: Person,
    query: dict[str, str] | None = None,
    accept: str = JSON,
    start_query: dict[str, str] | None = None,
) -> requests.Response:
    """Browser steps: start at the gateway, sign in at the provider, come back to the callback.

    `query` overrides parameters of the callback URL (a tampered state, a replayed code);
    `accept` is what the client coming back asks for (JSON for an API client, or a
    browser's Accept header); `start_query` is sent to the start (e.g. `next`).
    """
    start = requests.get(
        world.gateway + "/v1/auth/oauth/corp/start",
        params=start_query,
        headers=HTTPS,
        allow_redirects=False,
        timeout=10,
    )
    assert start.status_code == 302, start.text
    state_cookie = set_cookies(start)["oauth_state"]
    world.provider.next_person = person
    at_provider = requests.get(
        start.headers["Location"],
        allow_redirects=False,
        verify=str(world.smtp.ca_file),
        timeout=10,
    )
    assert at_provider.status_code == 302, at_provider.text
    back = urlparse(at_provider.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    params = {k: v[0] for k, v in parse_qs(back.query).items()}
    params.update(query or {})
    return requests.get(
        f"{world.gateway}{back.path}?{urlencode(params)}",
        headers={
            **HTTPS,
            "Cookie": f"oauth_state={cookie_value(state_cookie)}",
            "Accept": accept,
        },
        allow_redirects=False,
        timeout=20,
    )


def as_user(session: str) -> dict[str, str]:
    """Headers of a signed-in browser making an unsafe request (CSRF double submit)."""
    return {
        **HTTPS,
        "Cookie": f"__Host-session={session}; __Host-csrf={CSRF[session]}",
        "X-CSRF-Token": CSRF[session],
    }


def user_count(world: World) -> int:
    return int(db_scalar(world, "SELECT count(*) FROM auth.users"))


# -- tests ----------------------------------------------------------------------------------


def test_confirmation_mail_travels_over_smtp_with_starttls_and_auth(world: World) -> None:
    email, user_id = signed_up(world)
    index = world.smtp.inbox.recipients.index([email])
    assert world.smtp.inbox.over_tls[index] is True
    assert SMTP_USER in world.smtp.inbox.logins
    mail_dir = Path(world.stack.env["MAIL_DIR"])
    assert not mail_dir.exists() or not any(mail_dir.iterdir())
    assert user_id


def test_secure_cookies_and_hsts_behind_a_tls_proxy(world: World) -> None:
    email, _ = signed_up(world)
    login = requests.post(
        world.gateway + "/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers=HTTPS,
        timeout=10,
    )
    assert login.status_code == 200, login.text
    cookies = set_cookies(login)
    session = [p.strip() for p in cookies["__Host-session"].split(";")]
    assert {"Secure", "HttpOnly", "Path=/", "SameSite=Lax"} <= set(session)
    assert not any(p.lower().startswith("domain=") for p in session)
    csrf = [p.strip() for p in cookies["__Host-csrf"].split(";")]
    assert {"Secure", "Path=/", "SameSite=Lax"} <= set(csrf) and "HttpOnly" not in csrf
    assert login.headers["Strict-Transport-Security"].startswith("max-age=")
    assert account(world, session_of(login)).json()["user"]["email"] == email

    plain = requests.get(world.gateway + "/healthz", timeout=10)
    assert "Strict-Transport-Security" not in plain.headers


def test_oidc_sign_in_creates_an_account_and_signs_in_again(world: World) -> None:
    person = Person(sub=uuid.uuid4().hex, email=f"oidc-{uuid.uuid4().hex[:8]}@example.test")
    before = user_count(world)
    first = oidc_sign_in(world, person)
    assert first.status_code == 200, first.text
    user = first.json()["user"]
    assert user["email"] == person.email and user["email_confirmed"] is True
    assert user_count(world) == before + 1
    assert tuple({m for _, m in world.provider.challenges}) == ("S256",)
    assert all(challenge for challenge, _ in world.provider.challenges)
    me = account(world, session_of(first))
    assert me.status_code == 200 and me.json()["user"]["id"] == user["id"]
    assert "oauth_state=;" in set_cookies(first)["oauth_state"]  # cleared

    again = oidc_sign_in(world, person)
    assert again.status_code == 200 and again.json()["user"]["id"] == user["id"]
    assert user_count(world) == before + 1


def test_a_verified_email_links_to_the_existing_account(world: World) -> None:
    email, user_id = signed_up(world)
    linked = oidc_sign_in(world, Person(sub=uuid.uuid4().hex, email=email.upper()))
    assert linked.status_code == 200, linked.text
    assert linked.json()["user"]["id"] == user_id
    assert account(world, session_of(linked)).json()["user"]["id"] == user_id
    password_login = requests.post(
        world.gateway + "/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers=HTTPS,
        timeout=10,
    )
    assert password_login.status_code == 200  # a confirmed account keeps its password


def test_an_unverified_email_is_not_linked(world: World) -> None:
    email, user_id = signed_up(world)
    before = user_count(world)
    refused = oidc_sign_in(world, Person(sub=uuid.uuid4().hex, email=email, email_verified=False))
    assert refused.status_code == 401
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/oauth-email-unverified"
    assert "__Host-session" not in set_cookies(refused)
    assert user_count(world) == before
    links = "SELECT count(*) FROM auth.oauth_identities WHERE user_id = %s"
    assert db_scalar(world, links, user_id) == 0


@pytest.mark.parametrize(
    "claims",
    [
        {"nonce": "not-the-one-sent"},
        {"aud": ["another-client"]},
        {"iss": "https://evil.example.test"},
        {"exp": int(time.time()) - 120},
    ],
    ids=["nonce", "audience", "issuer", "expired"],
)
def test_an_id_token_with_a_wrong_claim_is_refused(world: World, claims: dict[str, Any]) -> None:
    email = f"cl-{uuid.uuid4().hex[:8]}@example.test"
    before = user_count(world)
    refused = oidc_sign_in(world, Person(sub=uuid.uuid4().hex, email=email, claims=claims))
    assert refused.status_code == 401, refused.text
    assert refused.json()["type"] == "/problems/oauth-failed"
    assert user_count(world) == before


def test_tampered_or_replayed_state_is_refused_and_creates_nothing(world: World) -> None:
    person = Person(sub=uuid.uuid4().hex, email=f"st-{uuid.uuid4().hex[:8]}@example.test")
    before = user_count(world)
    tampered = oidc_sign_in(world, person, query={"state": secrets.token_urlsafe(32)})
    assert tampered.status_code == 400
    assert tampered.json()["type"] == "/problems/invalid-state"
    assert user_count(world) == before

    done = oidc_sign_in(world, person)
    assert done.status_code == 200
    replay_url = done.url  # same code and state, same browser cookie
    replay = requests.get(
        replay_url, headers={**HTTPS, **done.request.headers}, allow_redirects=False, timeout=10
    )
    assert replay.status_code == 400
    assert replay.json()["type"] == "/problems/invalid-state"


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(world: World) -> None:
    """The verifier auth keeps is what binds the code to this sign-in: change it and it fails."""
    person = Person(sub=uuid.uuid4().hex, email=f"pk-{uuid.uuid4().hex[:8]}@example.test")
    before = user_count(world)
    url = world.stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION auth.test_swap_verifier() RETURNS trigger AS $$ "
            "BEGIN NEW.code_verifier := repeat('x', 64); RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER test_swap_verifier BEFORE INSERT ON auth.oauth_states "
            "FOR EACH ROW EXECUTE FUNCTION auth.test_swap_verifier()"
        )
    try:
        failed = oidc_sign_in(world, person)
    finally:
        with psycopg.connect(url) as conn:
            conn.execute("DROP TRIGGER test_swap_verifier ON auth.oauth_states")
            conn.execute("DROP FUNCTION auth.test_swap_verifier()")
    assert failed.status_code == 401
    assert failed.json()["type"] == "/problems/oauth-failed"
    assert world.provider.token_errors[-1] == "invalid_grant"
    assert user_count(world) == before


def test_provider_codes_and_tokens_are_not_kept(world: World) -> None:
    person = Person(sub=uuid.uuid4().hex, email=f"tk-{uuid.uuid4().hex[:8]}@example.test")
    assert oidc_sign_in(world, person).status_code == 200
    dump = auth_rows(world.stack)
    assert len(world.provider.issued) >= 3  # codes, access tokens, ID tokens
    for secret in world.provider.issued:
        assert secret not in dump
    assert person.sub in dump  # the subject id is the one thing kept


def test_a_browser_lands_on_the_web_app_signed_in(world: World) -> None:
    person = Person(sub=uuid.uuid4().hex, email=f"br-{uuid.uuid4().hex[:8]}@example.test")
    landed = oidc_sign_in(world, person, accept=BROWSER)
    assert landed.status_code == 302, landed.text
    assert landed.headers["Location"] == "/app"
    cookies = set_cookies(landed)
    assert {"Secure", "HttpOnly", "SameSite=Lax"} <= {
        p.strip() for p in cookies["__Host-session"].split(";")
    }
    assert "__Host-csrf" in cookies and "oauth_state=;" in cookies["oauth_state"]
    me = account(world, session_of(landed)).json()["user"]
    assert me["email"] == person.email

    back = oidc_sign_in(world, person, accept=BROWSER, start_query={"next": "/app/account"})
    assert back.status_code == 302 and back.headers["Location"] == "/app/account"
    assert account(world, session_of(back)).json()["user"]["id"] == me["id"]


def test_a_next_outside_the_web_app_is_refused_at_the_start(world: World) -> None:
    for bad in ("https://evil.example.test/app", "//evil.example.test/app", "/app/../v1/account"):
        refused = requests.get(
            world.gateway + "/v1/auth/oauth/corp/start",
            params={"next": bad},
            headers=HTTPS,
            allow_redirects=False,
            timeout=10,
        )
        assert refused.status_code == 400, bad
        assert refused.json()["type"] == "/problems/invalid-parameter"
        assert "oauth_state" not in set_cookies(refused)


def test_a_browser_failure_lands_on_the_sign_in_page_with_the_code(world: World) -> None:
    email, _ = signed_up(world)
    before = user_count(world)
    unverified = Person(sub=uuid.uuid4().hex, email=email, email_verified=False)
    refused = oidc_sign_in(world, unverified, accept=BROWSER)
    assert refused.status_code == 302
    assert refused.headers["Location"] == "/app/signin#error=oauth-email-unverified"
    assert "__Host-session" not in set_cookies(refused)
    tampered = oidc_sign_in(
        world, unverified, query={"state": secrets.token_urlsafe(32)}, accept=BROWSER
    )
    assert tampered.headers["Location"] == "/app/signin#error=invalid-state"
    denied = oidc_sign_in(world, unverified, query={"error": "access_denied"}, accept=BROWSER)
    assert denied.headers["Location"] == "/app/signin#error=oauth-failed"
    assert user_count(world) == before


def test_callback_is_declared_as_redirect_and_json(world: World) -> None:
    doc = requests.get(world.gateway + "/v1/openapi.json", timeout=10).json()
    callback = doc["paths"]["/v1/auth/oauth/{provider}/callback"]["get"]["responses"]
    assert {"200", "302"} <= set(callback)
    assert "application/json" in callback["200"]["content"]
    assert "content" not in callback["302"]
    start = doc["paths"]["/v1/auth/oauth/{provider}/start"]["get"]
    assert "next" in {p["name"] for p in start["parameters"]}


def test_connected_sign_in_methods_can_be_listed_and_unlinked_but_not_the_last(
    world: World,
) -> None:
    email, user_id = signed_up(world)
    subject = uuid.uuid4().hex
    linked = oidc_sign_in(world, Person(sub=subject, email=email))
    session = session_of(linked)
    methods = requests.get(
        world.gateway + "/v1/account/identities", headers=as_user(session), timeout=10
    ).json()
    assert methods["has_password"] is True
    (identity,) = methods["identities"]
    assert identity["provider"] == "corp" and identity["subject_hint"] == "••••" + subject[-4:]
    assert subject not in json.dumps(methods) and identity["linked_at"]

    only = Person(sub=uuid.uuid4().hex, email=f"only-{uuid.uuid4().hex[:8]}@example.test")
    only_session = session_of(oidc_sign_in(world, only))
    only_methods = requests.get(
        world.gateway + "/v1/account/identities", headers=as_user(only_session), timeout=10
    ).json()
    assert only_methods["has_password"] is False
    (only_identity,) = only_methods["identities"]

    # Another user's identity: 404, and it stays linked.
    foreign = requests.delete(
        f"{world.gateway}/v1/account/identities/{only_identity['id']}",
        headers=as_user(session),
        timeout=10,
    )
    assert foreign.status_code == 404 and only_identity["id"] not in foreign.text
    assert foreign.json()["type"] == "/problems/identity-not-found"
    # The last way to sign in: 409, and it stays linked.
    last = requests.delete(
        f"{world.gateway}/v1/account/identities/{only_identity['id']}",
        headers=as_user(only_session),
        timeout=10,
    )
    assert last.status_code == 409
    assert last.json()["type"] == "/problems/last-sign-in-method"
    again = oidc_sign_in(world, only)
    assert again.status_code == 200

    # With a password left, the provider identity can go; signing in with it again makes
    # a fresh link (the email is verified), so unlinking is not a lock-out either.
    gone = requests.delete(
        f"{world.gateway}/v1/account/identities/{identity['id']}",
        headers=as_user(session),
        timeout=10,
    )
    assert gone.status_code == 204
    links = "SELECT count(*) FROM auth.oauth_identities WHERE user_id = %s"
    assert db_scalar(world, links, user_id) == 0
    assert requests.get(
        world.gateway + "/v1/account/identities", headers=as_user(session), timeout=10
    ).json() == {"identities": [], "has_password": True}


# -- account takeover by pre-registration (issue 13 item 1) --------------------------------

ATTACKER_PASSWORD = "mallory's own passphrase"


@dataclass
class Foothold:
    """What someone who signed up with another person's address managed to get."""

    login_status: int
    api_key: str = ""
    change_requested: bool = False


def log_in(world: World, email: str, password: str) -> requests.Response:
    return requests.post(
        world.gateway + "/v1/auth/login",
        json={"email": email, "password": password},
        headers=HTTPS,
        timeout=10,
    )


def pre_register(world: World, victim: str, attacker_mail: str) -> Foothold:
    """The attacker signs up with the victim's address and tries to dig in before the victim
    ever looks: sign in, make an API key, move the account to the attacker's address."""
    sign_up(world, victim, name="Mallory", password=ATTACKER_PASSWORD)
    login = log_in(world, victim, ATTACKER_PASSWORD)
    foothold = Foothold(login.status_code)
    if login.status_code != 200:
        return foothold
    session = session_of(login)
    key = requests.post(
        world.gateway + "/v1/api-keys", json={"name": "mine"}, headers=as_user(session), timeout=10
    )
    foothold.api_key = key.json().get("key", "") if key.status_code == 201 else ""
    move = requests.patch(
        world.gateway + "/v1/account",
        json={"email": attacker_mail, "current_password": ATTACKER_PASSWORD},
        headers=as_user(session),
        timeout=10,
    )
    foothold.change_requested = move.status_code == 200
    return foothold


def strike(world: World, foothold: Foothold, attacker_mail: str, mailed_before: int) -> None:
    """After the victim took the account over: confirm the address change and reset the
    password through the attacker's own mailbox, as far as the foothold allows."""
    if not foothold.change_requested:
        return
    token = mailed_token(world, attacker_mail, after=mailed_before)
    moved = requests.post(
        world.gateway + "/v1/auth/confirm", json={"token": token}, headers=HTTPS, timeout=10
    )
    if moved.status_code != 200:
        return
    before = len(world.smtp.inbox.messages)
    requests.post(
        world.gateway + "/v1/auth/password-reset",
        json={"email": attacker_mail},
        headers=HTTPS,
        timeout=10,
    )
    requests.post(
        world.gateway + "/v1/auth/password-reset/confirm",
        json={"token": mailed_token(world, attacker_mail, after=before), "password": "owned now"},
        headers=HTTPS,
        timeout=10,
    )


def assert_victim_keeps_the_account(
    world: World, foothold: Foothold, victim: str, attacker_mail: str, session: str
) -> None:
    me = account(world, session)
    assert me.status_code == 200, "the victim's session ended: the account was taken over"
    assert me.json()["user"]["email"] == victim and me.json()["user"]["pending_email"] is False
    assert log_in(world, attacker_mail, "owned now").status_code == 401
    assert log_in(world, victim, ATTACKER_PASSWORD).status_code == 401
    if foothold.api_key:
        keyed = requests.get(
            world.gateway + "/v1/account",
            headers={**HTTPS, "Authorization": f"Bearer {foothold.api_key}"},
            timeout=10,
        )
        assert keyed.status_code == 401, "the attacker's API key still works"
    # Nothing was possible before the address was confirmed.
    assert foothold.login_status == 403 and not foothold.api_key
    assert not foothold.change_requested


def attack(world: World) -> tuple[str, str, int, Foothold]:
    """A fresh victim address pre-registered by an attacker with a mailbox of their own:
    (victim, attacker's address, inbox size before, what the attacker got)."""
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.test"
    attacker_mail = f"mallory-{uuid.uuid4().hex[:8]}@example.test"
    mailed_before = len(world.smtp.inbox.messages)
    return victim, attacker_mail, mailed_before, pre_register(world, victim, attacker_mail)


def test_pre_registration_then_a_provider_sign_in_leaves_the_attacker_nothing(
    world: World,
) -> None:
    victim, attacker_mail, mailed_before, foothold = attack(world)
    refused = log_in(world, victim, ATTACKER_PASSWORD)
    if foothold.login_status == 403:
        assert refused.json()["type"] == "/problems/email-unconfirmed"

    linked = oidc_sign_in(world, Person(sub=uuid.uuid4().hex, email=victim, name="Vic Tim"))
    assert linked.status_code == 200, linked.text
    strike(world, foothold, attacker_mail, mailed_before)
    assert_victim_keeps_the_account(world, foothold, victim, attacker_mail, session_of(linked))
    assert linked.json()["user"]["name"] == "Vic Tim"  # not the name the attacker chose


def test_pre_registration_then_the_owner_signing_up_leaves_the_attacker_nothing(
    world: World,
) -> None:
    victim, attacker_mail, mailed_before, foothold = attack(world)

    before = len(world.smtp.inbox.messages)
    sign_up(world, victim, name="Vic Tim")
    confirm(world, victim, after=before)
    login = log_in(world, victim, PASSWORD)
    assert login.status_code == 200, "the owner's own password does not open the account"
    assert login.json()["user"]["name"] == "Vic Tim"
    strike(world, foothold, attacker_mail, mailed_before)
    assert_victim_keeps_the_account(world, foothold, victim, attacker_mail, session_of(login))


# -- shared lock-outs behind the proxy (issue 13 item 3) -------------------------------------


def test_behind_the_proxy_failures_lock_out_only_their_own_client(world: World) -> None:
    """Clients are told apart by the address the trusted proxy saw, and a success forgives
    its address: mistypes of many people behind one address never add up to a lock-out."""
    email, _ = signed_up(world)

    def attempt(address: str, who: str, password: str) -> int:
        return requests.post(
            world.gateway + "/v1/auth/login",
            json={"email": who, "password": password},
            headers={**HTTPS, "X-Forwarded-For": address},
            timeout=10,
        ).status_code

    run = uuid.uuid4().hex[:8]
    sprayer = [
        attempt("203.0.113.50", f"g{i}-{run}@example.test", "wrong guess") for i in range(22)
    ]
    assert sprayer == [401] * 21 + [429]  # 20 free failures per address, the 21st locks it
    assert attempt("198.51.100.23", email, PASSWORD) == 200  # another client: unaffected

    office = []
    for round_ in range(2):
        office += [
            attempt("192.0.2.44", f"t{round_}{i}-{run}@example.test", "typo") for i in range(11)
        ]
        office.append(attempt("192.0.2.44", email, PASSWORD))
    office.append(attempt("192.0.2.44", f"last-{run}@example.test", "typo"))
    assert office == ([401] * 11 + [200]) * 2 + [401]
