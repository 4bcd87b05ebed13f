"""Who is calling: an API key (`Authorization: Bearer`) or a session cookie.

Cookie-authenticated unsafe requests must send the CSRF token in the
`X-CSRF-Token` header; API-key requests are exempt because browsers never attach
them on their own. The token is derived from the session token (a one-way hash),
so it is bound to that session: a token planted in the browser by someone else (a
sibling subdomain setting a cookie, say) never matches. The page reads it from
the CSRF cookie, `__Host-csrf` when cookies are Secure (a name no subdomain can
set), `csrf_token` on plain HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from flask import current_app, g, request
from werkzeug.wrappers import Response

from picopt.auth.v1 import auth_pb2
from services.gateway.backends import calling
from services.gateway.limits import remember_api_key, remember_session
from services.gateway.problems import Problem

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_COOKIE = "csrf_token"
SECURE_CSRF_COOKIE = "__Host-csrf"
CSRF_HEADER = "X-CSRF-Token"


def session_cookie_name() -> str:
    return str(current_app.config["SESSION_COOKIE"])


def csrf_cookie_name() -> str:
    return SECURE_CSRF_COOKIE if current_app.config["COOKIE_SECURE"] else CSRF_COOKIE


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session: a hash of it, so knowing it reveals nothing of the
    session, and it cannot be made without the session token."""
    digest = hashlib.sha256(b"picopt-csrf\0" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def set_session_cookies(response: Response, token: str, expires: datetime | None) -> None:
    """The session cookie (HttpOnly) and its CSRF cookie (readable by scripts)."""
    secure = current_app.config["COOKIE_SECURE"]
    remember_session(token)
    for name, value, httponly in (
        (session_cookie_name(), token, True),
        (csrf_cookie_name(), csrf_token_for(token), False),
    ):
        response.set_cookie(
            name, value, expires=expires, httponly=httponly, secure=secure, samesite="Lax", path="/"
        )


def clear_session_cookies(response: Response) -> None:
    secure = current_app.config["COOKIE_SECURE"]
    for name in (session_cookie_name(), csrf_cookie_name()):
        response.delete_cookie(name, path="/", secure=secure, samesite="Lax")


def current_user_id() -> str:
    """The authenticated user's id, or a 401 problem."""
    if getattr(g, "user_id", None):
        return str(g.user_id)
    backends = current_app.extensions["backends"]
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Problem(401, "unauthenticated", "use 'Authorization: Bearer <api key>'")
        with calling("auth"):
            reply = backends.auth.AuthenticateApiKey(
                auth_pb2.AuthenticateApiKeyRequest(api_key=key.strip())
            )
        g.user_id, g.auth_kind, g.key_id = reply.user_id, "api_key", reply.key_id
        remember_api_key(key.strip())
        return str(reply.user_id)
    token = request.cookies.get(session_cookie_name(), "")
    if not token:
        raise Problem(401, "unauthenticated", "sign in or send an API key")
    with calling("auth"):
        reply = backends.auth.AuthenticateSession(
            auth_pb2.AuthenticateSessionRequest(session_token=token)
        )
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, csrf_token_for(token)):
            raise Problem(
                403,
                "csrf-failed",
                f"send the {csrf_cookie_name()} cookie's value in {CSRF_HEADER}",
            )
    g.user_id, g.auth_kind = reply.user_id, "session"
    remember_session(token)
    return str(reply.user_id)
