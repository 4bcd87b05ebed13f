"""Identity configured as in production, through the real services.

The gateway sits behind a trusted TLS proxy (X-Forwarded-Proto), cookies are
Secure, mail goes over SMTP with STARTTLS and AUTH (aiosmtpd), and sign-in
works against a real OpenID Connect provider on loopback (authlib's
AuthorizationServer over HTTPS: discovery, JWKS, PKCE, RS256 ID tokens).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import psycopg
import pytest
import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, Response, jsonify
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

from picopt.devstack import Stack, free_port
from picopt.kernel.tests.test_mailer import PASSWORD as SMTP_PASSWORD
from picopt.kernel.tests.test_mailer import USER as SMTP_USER
from picopt.kernel.tests.test_mailer import SmtpServer, start_smtp
from tests.integration.conftest import wait_for
from tests.integration.harness import running_stack
from tests.integration.test_identity import auth_rows

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
PUBLIC_URL = "https://photos.example.test"
CLIENT_ID, CLIENT_SECRET = "picopt-gateway", secrets.token_urlsafe(24)
CALLBACK = f"{PUBLIC_URL}/v1/auth/oauth/corp/callback"
HTTPS = {"X-Forwarded-Proto": "https"}


# -- a real OpenID Connect provider on loopback ------------------------------------------


@dataclass
class Person:
    """Who signs in at the provider next."""

    sub: str
    email: str
    email_verified: bool = True
    name: str = "Grace Hopper"
    claims: dict[str, Any] = field(default_factory=dict)  # overrides in the ID token


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: Person
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class Client(ClientMixin):  # type: ignore[misc]
    """The gateway as registered at the provider: one exact redirect URI, a secret."""

    client_id = CLIENT_ID

    def get_client_id(self) -> str:
        return CLIENT_ID

    def get_default_redirect_uri(self) -> str:
        return CALLBACK

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in {"openid", "email", "profile"})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == CALLBACK

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, CLIENT_SECRET)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint != "token" or method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class OidcProvider:
    """authlib's AuthorizationServer in a Flask app served over HTTPS on 127.0.0.1."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.port = free_port()
        self.issuer = f"https://127.0.0.1:{self.port}"
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.next_person: Person | None = None
        self.codes: dict[str, Code] = {}
        self.issued: list[str] = []  # every code and token the provider handed out
        self.challenges: list[tuple[str | None, str | None]] = []
        self.token_errors: list[str] = []
        self._server = make_server(
            "127.0.0.1", self.port, self._app(), threaded=True, ssl_context=(str(cert), str(key))
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OidcProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()

    def _app(self) -> Flask:
        provider = self
        app = Flask("oidc-provider")
        server = AuthorizationServer(
            app, query_client=lambda cid: Client() if cid == CLIENT_ID else None
        )
        server.save_token = lambda token, req: None  # type: ignore[method-assign]

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                provider.challenges.append(
                    (data.get("code_challenge"), data.get("code_challenge_method"))
                )
                provider.issued.append(code)
                provider.codes[code] = Code(
                    code=code,
                    client_id=req.client.get_client_id(),
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.payload.scope,
                    user=req.user,
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Any) -> Code | None:
                item = provider.codes.get(code)
                return item if item and item.client_id == client.get_client_id() else None

            def delete_authorization_code(self, item: Code) -> None:
                provider.codes.pop(item.code, None)

            def authenticate_user(self, item: Code) -> Person:
                return item.user

        class IdToken(OpenIDCode):  # type: ignore[misc]
            def exists_nonce(self, nonce: str, req: Any) -> bool:
                return any(c.nonce == nonce for c in provider.codes.values())

            def resolve_client_private_key(self, client: Any) -> RSAKey:
                return provider.signing_key

            def get_client_claims(self, client: Any) -> dict[str, Any]:
                return {"iss": provider.issuer, "aud": [CLIENT_ID]}

            def generate_user_info(self, user: Person, scope: str) -> UserInfo:
                return UserInfo(
                    sub=user.sub,
                    name=user.name,
                    email=user.email,
                    email_verified=user.email_verified,
                    **user.claims,
                )

        server.register_grant(
            CodeGrant, [CodeChallenge(required=True), IdToken(require_nonce=True)]
        )

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Response:
            return jsonify(
                issuer=provider.issuer,
                authorization_endpoint=f"{provider.issuer}/authorize",
                token_endpoint=f"{provider.issuer}/token",
                jwks_uri=f"{provider.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
            )

        @app.get("/jwks")
        def jwks() -> Response:
            return jsonify(KeySet([provider.signing_key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize() -> Any:
            person = provider.next_person  # the person "already signed in" at the provider
            grant = server.get_consent_grant(end_user=person)
            return server.create_authorization_response(grant=grant, grant_user=person)

        @app.post("/token")
        def token() -> Any:
            response = server.create_token_response()
            body = response.get_json(silent=True) or {}
            if "error" in body:
                provider.token_errors.append(body["error"])
            provider.issued.extend(str(v) for k, v in body.items() if k.endswith("token"))
            return response

        return app


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
        with OidcProvider(smtp.ca_file, smtp.ca_file.with_name("key.pem")) as provider:
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


def mailed_token(world: World, to: str) -> str:
    """The token from the last mail the SMTP server took for `to`."""

    def find() -> str | None:
        for message, rcpts in zip(
            reversed(world.smtp.inbox.messages), reversed(world.smtp.inbox.recipients), strict=True
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


def signed_up(world: World) -> tuple[str, str]:
    """A confirmed password account: (email, user id)."""
    email = f"sec-{uuid.uuid4().hex[:10]}@example.test"
    reply = requests.post(
        world.gateway + "/v1/auth/signup",
        json={"name": "Ada", "email": email, "password": PASSWORD},
        headers=HTTPS,
        timeout=10,
    )
    assert reply.status_code == 202
    confirmed = requests.post(
        world.gateway + "/v1/auth/confirm",
        json={"token": mailed_token(world, email)},
        headers=HTTPS,
        timeout=10,
    )
    assert confirmed.status_code == 200, confirmed.text
    return email, confirmed.json()["user"]["id"]


def session_of(response: requests.Response) -> str:
    return cookie_value(set_cookies(response)["__Host-session"])


def account(world: World, session: str) -> requests.Response:
    return requests.get(
        world.gateway + "/v1/account",
        headers={**HTTPS, "Cookie": f"__Host-session={session}"},
        timeout=10,
    )


def oidc_sign_in(
    world: World, person: Person, query: dict[str, str] | None = None
) -> requests.Response:
    """Browser steps: start at the gateway, sign in at the provider, come back to the callback.

    `query` overrides parameters of the callback URL (a tampered state, a replayed code).
    """
    start = requests.get(
        world.gateway + "/v1/auth/oauth/corp/start",
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
        headers={**HTTPS, "Cookie": f"oauth_state={cookie_value(state_cookie)}"},
        allow_redirects=False,
        timeout=20,
    )


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
    csrf = [p.strip() for p in cookies["csrf_token"].split(";")]
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
