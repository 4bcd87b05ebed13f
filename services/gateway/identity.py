"""Who is calling: an API key (`Authorization: Bearer`) or a session cookie.

Cookie-authenticated unsafe requests must echo the CSRF cookie in the
`X-CSRF-Token` header (double submit); API-key requests are exempt because
browsers never attach them on their own.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from flask import current_app, g, request
from werkzeug.wrappers import Response

from picopt.auth.v1 import auth_pb2
from services.gateway.backends import calling
from services.gateway.limits import remember_api_key, remember_session
from services.gateway.problems import Problem

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def session_cookie_name() -> str:
    return str(current_app.config["SESSION_COOKIE"])


def set_session_cookies(response: Response, token: str, expires: datetime | None) -> None:
    """The session cookie (HttpOnly) and a fresh CSRF cookie (readable by scripts)."""
    secure = current_app.config["COOKIE_SECURE"]
    remember_session(token)
    for name, value, httponly in (
        (session_cookie_name(), token, True),
        (CSRF_COOKIE, secrets.token_urlsafe(24), False),
    ):
        response.set_cookie(
            name, value, expires=expires, httponly=httponly, secure=secure, samesite="Lax", path="/"
        )


def clear_session_cookies(response: Response) -> None:
    secure = current_app.config["COOKIE_SECURE"]
    for name in (session_cookie_name(), CSRF_COOKIE):
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
        expected = request.cookies.get(CSRF_COOKIE, "")
        if not sent or not expected or not hmac.compare_digest(sent, expected):
            raise Problem(
                403, "csrf-failed", f"send the {CSRF_COOKIE} cookie's value in {CSRF_HEADER}"
            )
    g.user_id, g.auth_kind = reply.user_id, "session"
    remember_session(token)
    return str(reply.user_id)
