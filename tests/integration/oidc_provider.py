"""A real OpenID Connect provider on loopback, for sign-in tests.

authlib's AuthorizationServer in a Flask app over HTTPS on 127.0.0.1: discovery,
JWKS, authorization code with PKCE (required) and nonce, RS256 ID tokens. The
person "already signed in" at the provider is whoever `next_person` names; the
provider consents at once and redirects back to the one registered callback.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, Response, jsonify
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

from picopt.devstack import free_port

CLIENT_ID, CLIENT_SECRET = "picopt-gateway", secrets.token_urlsafe(24)


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

    def __init__(self, callback: str) -> None:
        self.callback = callback

    def get_client_id(self) -> str:
        return CLIENT_ID

    def get_default_redirect_uri(self) -> str:
        return self.callback

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in {"openid", "email", "profile"})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.callback

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

    def __init__(self, cert: Path, key: Path, callback: str) -> None:
        self.callback = callback  # the one redirect URI registered for the gateway
        self.cert = cert  # what a client must trust to reach the provider
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
            app, query_client=lambda cid: Client(provider.callback) if cid == CLIENT_ID else None
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
