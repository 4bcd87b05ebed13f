"""OAuth 2 / OpenID Connect sign-in with authlib: GitHub and Google presets, any OIDC issuer.

Every sign-in uses state (stored hashed, single use, ten minutes) and PKCE
(S256); OIDC ID tokens are verified against the issuer's JWKS (signature,
issuer, audience, expiry, nonce). GitHub and Google are trusted to vouch for
emails (an identity links to, or creates, the account with its verified address);
any other issuer only with OAUTH_<NAME>_TRUST_EMAIL=true, and otherwise connects
only to the account signed in in the browser (`AuthService.sign_in_external`).
Provider tokens are used once to read the identity and then dropped: nothing from
the provider but its subject id is kept.

Configuration: OAUTH_PROVIDERS=github,google,corp and, per provider,
OAUTH_<NAME>_CLIENT_ID, OAUTH_<NAME>_CLIENT_SECRET and, for a generic OIDC
provider, OAUTH_<NAME>_ISSUER (discovery at <issuer>/.well-known/openid-configuration)
and OAUTH_<NAME>_TRUST_EMAIL.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete

from picopt.kernel.db import as_utc, utcnow
from picopt.kernel.errors import InvalidArgument, NotFound, Unauthenticated, Unavailable
from picopt.kernel.logs import get_logger
from picopt.kernel.settings import Env
from services.auth import credentials
from services.auth.models import OAuthState
from services.auth.service import AuthService
from services.auth.sessions import SignedIn

if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session

# The HTTP and JOSE libraries are imported on a sign-in's first use: a deployment without
# providers (one machine's default) saves their ~10 MB resident in the auth process.

log = get_logger(__name__)

STATE_TTL = timedelta(minutes=10)
# A page of the web app on the gateway's origin (the gateway checks the same shape).
NEXT_PATH = re.compile(r"^/app(/[a-z-]*)?(\?[\w=&%.-]*)?$")
HTTP_TIMEOUT_S = 10.0
GITHUB = {
    "authorize_url": "https://github.com/login/oauth/authorize",
    "token_url": "https://github.com/login/oauth/access_token",
    "api": "https://api.github.com",
}


@dataclass(frozen=True)
class Provider:
    name: str
    client_id: str
    client_secret: str
    issuer: str = ""  # OIDC providers; empty for GitHub
    scope: str = "openid email profile"
    # Whether its verified emails may link to (or create) the account with that address.
    trust_email: bool = False


def providers_from_env(env: Env) -> dict[str, Provider]:
    found: dict[str, Provider] = {}
    for name in env.list("OAUTH_PROVIDERS"):
        key = name.upper().replace("-", "_")
        client_id = env.str(f"OAUTH_{key}_CLIENT_ID")
        if not client_id:
            continue
        issuer = env.str(f"OAUTH_{key}_ISSUER")
        if name == "google":
            issuer = issuer or "https://accounts.google.com"
        scope = "read:user user:email" if name == "github" else "openid email profile"
        found[name] = Provider(
            name=name,
            client_id=client_id,
            client_secret=env.str(f"OAUTH_{key}_CLIENT_SECRET"),
            issuer=issuer.rstrip("/"),
            scope=env.str(f"OAUTH_{key}_SCOPE", scope),
            trust_email=env.bool(f"OAUTH_{key}_TRUST_EMAIL", name in ("github", "google")),
        )
    return found


def _get_json(url: str, **kwargs: Any) -> Any:
    import requests

    try:
        reply = requests.get(url, timeout=HTTP_TIMEOUT_S, **kwargs)
        reply.raise_for_status()
        return reply.json()
    except (requests.RequestException, ValueError) as exc:
        raise Unavailable(
            "the sign-in provider did not answer", code="oauth_provider_error"
        ) from exc


class OAuthSignIn:
    def __init__(self, service: AuthService, providers: dict[str, Provider]) -> None:
        self.service = service
        self.providers = providers
        self._discovery: dict[str, dict[str, Any]] = {}

    def _provider(self, name: str) -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            raise NotFound("unknown sign-in provider", code="unknown_provider")
        return provider

    def _metadata(self, provider: Provider) -> dict[str, Any]:
        if not provider.issuer:
            return {
                "authorization_endpoint": GITHUB["authorize_url"],
                "token_endpoint": GITHUB["token_url"],
            }
        if provider.name not in self._discovery:
            meta = _get_json(f"{provider.issuer}/.well-known/openid-configuration")
            if meta.get("issuer", "").rstrip("/") != provider.issuer:
                raise Unavailable("issuer mismatch in discovery", code="oauth_provider_error")
            self._discovery[provider.name] = meta
        return self._discovery[provider.name]

    def _client(self, provider: Provider, redirect_uri: str) -> OAuth2Session:
        from authlib.integrations.requests_client import OAuth2Session

        return OAuth2Session(
            provider.client_id,
            provider.client_secret,
            scope=provider.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )

    def start(self, name: str, redirect_uri: str, next_path: str = "") -> tuple[str, str]:
        """The provider's authorization URL and the state the browser must bring back.

        `next_path` (a web app page) is kept with the state, so where the browser
        lands after sign-in is decided here, not by the callback's query string.
        """
        provider = self._provider(name)
        if next_path and not NEXT_PATH.fullmatch(next_path):
            raise InvalidArgument("next must be a page of the web app", code="invalid_next")
        meta = self._metadata(provider)
        state, verifier, nonce = (
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(48),
            secrets.token_urlsafe(16),
        )
        extra = {"nonce": nonce} if provider.issuer else {}
        url, _ = self._client(provider, redirect_uri).create_authorization_url(
            meta["authorization_endpoint"], state=state, code_verifier=verifier, **extra
        )
        with self.service.db.session() as s:
            s.execute(delete(OAuthState).where(OAuthState.expires_at < utcnow()))
            s.add(
                OAuthState(
                    state_hash=credentials.token_digest(state),
                    provider=name,
                    code_verifier=verifier,
                    nonce=nonce,
                    redirect_uri=redirect_uri,
                    next_path=next_path,
                    expires_at=utcnow() + STATE_TTL,
                )
            )
        return url, state

    def finish(
        self, name: str, code: str, state: str, session_token: str = ""
    ) -> tuple[SignedIn, bool, str]:
        """Signs in; returns the session, whether the account is new, and the next page.

        `session_token` is the browser's current session, if any: a provider not trusted
        for email connects only to that account."""
        provider = self._provider(name)
        invalid = InvalidArgument("the sign-in state is invalid or expired", code="invalid_state")
        with self.service.db.session() as s:
            row = s.get(OAuthState, credentials.token_digest(state)) if state else None
            if row is None:
                raise invalid
            s.delete(row)  # single use, whatever happens next
            pending = (row.provider, row.code_verifier, row.nonce, row.redirect_uri, row.expires_at)
            next_path = row.next_path or ""
        row_provider, verifier, nonce, redirect_uri, expires = pending
        if row_provider != name or as_utc(expires) <= utcnow():
            raise invalid
        if not code:
            raise InvalidArgument("the provider sent no code", code="invalid_code")
        meta = self._metadata(provider)
        client = self._client(provider, redirect_uri)
        try:
            token = client.fetch_token(
                meta["token_endpoint"],
                code=code,
                code_verifier=verifier,
                timeout=HTTP_TIMEOUT_S,
            )
        except Exception as exc:
            log.info("oauth_code_rejected", provider=name, error=type(exc).__name__)
            raise Unauthenticated("the provider rejected the sign-in", code="oauth_failed") from exc
        if provider.issuer:
            identity = self._oidc_identity(provider, meta, token, nonce)
        else:
            identity = self._github_identity(token["access_token"])
        # The provider's tokens go out of scope here: nothing of them is stored.
        signed, created = self.service.identities.sign_in_external(
            name,
            *identity,
            trusted_email=provider.trust_email,
            signed_in_user_id=self._signed_in(session_token),
        )
        return signed, created, next_path

    def _signed_in(self, session_token: str) -> str:
        if not session_token:
            return ""
        try:
            return self.service.sessions.authenticate_session(session_token)
        except Unauthenticated:
            return ""

    def _oidc_identity(
        self, provider: Provider, meta: dict[str, Any], token: dict[str, Any], nonce: str
    ) -> tuple[str, str, bool, str]:
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        raw = token.get("id_token")
        if not raw:
            raise Unauthenticated("the provider sent no ID token", code="oauth_failed")
        keys = KeySet.import_key_set(_get_json(meta["jwks_uri"]))
        try:
            decoded = jwt.decode(raw, keys)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": provider.issuer},
                aud={"essential": True, "value": provider.client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            log.info("oauth_id_token_rejected", provider=provider.name, error=type(exc).__name__)
            raise Unauthenticated("the ID token is not valid", code="oauth_failed") from exc
        claims = decoded.claims
        return (
            str(claims["sub"]),
            str(claims.get("email", "")),
            claims.get("email_verified") is True,
            str(claims.get("name", "")),
        )

    def _github_identity(self, access_token: str) -> tuple[str, str, bool, str]:
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        user = _get_json(f"{GITHUB['api']}/user", headers=headers)
        emails = _get_json(f"{GITHUB['api']}/user/emails", headers=headers)
        primary = next(
            (e for e in emails if e.get("primary") and e.get("verified")),
            None,
        )
        return (
            str(user["id"]),
            str(primary["email"]) if primary else "",
            primary is not None,
            str(user.get("name") or user.get("login") or ""),
        )
