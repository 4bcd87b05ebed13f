"""Sign-up, email confirmation, sign-in and -out, password reset, OAuth sign-in.

Answers never reveal whether an email has an account: sign-up and reset
always answer 202, a failed sign-in is the same 401 for a wrong password and
an unknown address.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, request
from werkzeug.wrappers import Response as WsgiResponse

from picopt.auth.v1 import auth_pb2
from picopt.kernel.protos import from_timestamp
from services.gateway.backends import calling
from services.gateway.identity import (
    clear_session_cookies,
    current_user_id,
    session_cookie_name,
    set_session_cookies,
)
from services.gateway.openapi import operation
from services.gateway.problems import Problem
from services.gateway.schemas import (
    Accepted,
    LoginBody,
    LoginReply,
    LogoutEverywhereBody,
    OAuthCallbackQuery,
    OAuthStartQuery,
    PasswordResetBody,
    PasswordResetConfirmBody,
    SignupBody,
    TokenBody,
    User,
    UserReply,
)

bp = Blueprint("auth", __name__)
OAUTH_STATE_COOKIE = "oauth_state"


def _backends() -> Any:
    return current_app.extensions["backends"]


def _iso(ts: Any) -> str | None:
    value = from_timestamp(ts)
    return value.isoformat() if value else None


def user_model(user: auth_pb2.User) -> User:
    return User(
        id=user.id,
        name=user.name,
        email=user.email,
        email_confirmed=user.email_confirmed,
        pending_email=user.pending_email,
        created_at=_iso(user.created_at),
        vision_provider=user.vision_provider or None,
        language=user.language or None,
    )


def _auth_limit() -> str:
    return str(current_app.extensions["auth_limit"])


def _accepted(detail: str) -> tuple[Response, int]:
    return jsonify(Accepted(status="accepted", detail=detail).model_dump()), 202


@bp.post("/v1/auth/signup")
@operation(
    "Create an account; a confirmation token is emailed",
    tags=["auth"],
    body=SignupBody,
    responses={202: Accepted},
    auth=False,
)
def signup(body: SignupBody) -> tuple[Response, int]:
    with calling("auth"):
        _backends().auth.SignUp(
            auth_pb2.SignUpRequest(name=body.name, email=body.email, password=body.password)
        )
    return _accepted("check your inbox for the confirmation token")


@bp.post("/v1/auth/confirm")
@operation(
    "Confirm an email address (sign-up or email change) with the emailed token",
    tags=["auth"],
    body=TokenBody,
    responses={200: UserReply},
    problems=[409],
    auth=False,
)
def confirm(body: TokenBody) -> Response:
    with calling("auth"):
        reply = _backends().auth.ConfirmEmail(auth_pb2.ConfirmEmailRequest(token=body.token))
    return jsonify(UserReply(user=user_model(reply.user)).model_dump(mode="json"))


@bp.post("/v1/auth/login")
@operation(
    "Sign in: sets the session cookie and its CSRF cookie (__Host-csrf, or csrf_token on "
    "plain HTTP)",
    tags=["auth"],
    body=LoginBody,
    responses={200: LoginReply},
    problems=[401, 403],
    auth=False,
)
def login(body: LoginBody) -> Response:
    with calling("auth"):
        reply = _backends().auth.LogIn(
            auth_pb2.LogInRequest(
                email=body.email,
                password=body.password,
                client_address=request.remote_addr or "",
                previous_session_token=request.cookies.get(session_cookie_name(), ""),
            )
        )
    if reply.retry_after_s:
        raise Problem(
            429,
            "login-throttled",
            f"too many failed sign-ins; try again in {reply.retry_after_s} s",
            retry_after=reply.retry_after_s,
        )
    response = jsonify(
        LoginReply(user=user_model(reply.user), expires_at=_iso(reply.expires_at)).model_dump(
            mode="json"
        )
    )
    set_session_cookies(response, reply.session_token, from_timestamp(reply.expires_at))
    return response


@bp.post("/v1/auth/logout")
@operation("Sign out of this session", tags=["auth"], responses={204: None})
def logout() -> Response:
    current_user_id()
    token = request.cookies.get(session_cookie_name(), "")
    if token:
        with calling("auth"):
            _backends().auth.LogOut(auth_pb2.LogOutRequest(session_token=token))
    response = Response(status=204)
    clear_session_cookies(response)
    return response


@bp.post("/v1/auth/logout-everywhere")
@operation(
    "Sign out of every session of this account; `revoke_api_keys` revokes every API key too",
    tags=["auth"],
    body=LogoutEverywhereBody,
    body_optional=True,
    responses={204: None},
)
def logout_everywhere(body: LogoutEverywhereBody) -> Response:
    user_id = current_user_id()
    with calling("auth"):
        _backends().auth.LogOutEverywhere(
            auth_pb2.LogOutEverywhereRequest(user_id=user_id, revoke_api_keys=body.revoke_api_keys)
        )
    response = Response(status=204)
    clear_session_cookies(response)
    return response


@bp.post("/v1/auth/password-reset")
@operation(
    "Ask for a password reset token by email (same answer for any address)",
    tags=["auth"],
    body=PasswordResetBody,
    responses={202: Accepted},
    auth=False,
)
def password_reset(body: PasswordResetBody) -> tuple[Response, int]:
    with calling("auth"):
        _backends().auth.RequestPasswordReset(
            auth_pb2.RequestPasswordResetRequest(email=body.email)
        )
    return _accepted("if the address has an account, a reset token is on its way")


@bp.post("/v1/auth/password-reset/confirm")
@operation(
    "Set a new password with the emailed token; every session ends, and every API key "
    "too with `revoke_api_keys`",
    tags=["auth"],
    body=PasswordResetConfirmBody,
    responses={204: None},
    auth=False,
)
def password_reset_confirm(body: PasswordResetConfirmBody) -> Response:
    with calling("auth"):
        _backends().auth.ResetPassword(
            auth_pb2.ResetPasswordRequest(
                token=body.token, new_password=body.password, revoke_api_keys=body.revoke_api_keys
            )
        )
    return Response(status=204)


def _callback_url(provider: str) -> str:
    base = current_app.config["PUBLIC_URL"] or request.host_url.rstrip("/")
    return f"{base}/v1/auth/oauth/{provider}/callback"


def _wants_json() -> bool:
    """API clients ask for JSON; browsers (text/html or */*) are sent back to the web app."""
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"]


@bp.get("/v1/auth/oauth/<provider>/start")
@operation(
    "Start signing in with a provider (redirects to it); `next` is the web app page to land on",
    tags=["auth"],
    query=OAuthStartQuery,
    responses={302: None},
    problems=[404],
    auth=False,
)
def oauth_start(provider: str, query: OAuthStartQuery) -> WsgiResponse:
    with calling("auth"):
        reply = _backends().auth.StartOAuth(
            auth_pb2.StartOAuthRequest(
                provider=provider, redirect_uri=_callback_url(provider), next_path=query.next
            )
        )
    response = redirect(reply.authorization_url, code=302)
    response.set_cookie(
        OAUTH_STATE_COOKIE,
        reply.state,
        max_age=600,
        httponly=True,
        secure=current_app.config["COOKIE_SECURE"],
        samesite="Lax",
        path="/v1/auth/oauth/",
    )
    return response


@bp.get("/v1/auth/oauth/<provider>/callback")
@operation(
    "Where the provider sends the browser back: signs in and sets the session cookie. "
    "Browsers are redirected (302) to the web app page given at the start, or to "
    "/app/signin#error=<problem code> on failure; clients sending "
    "`Accept: application/json` get JSON and problems",
    tags=["auth"],
    query=OAuthCallbackQuery,
    responses={200: LoginReply, 302: None},
    problems=[401, 404],
    auth=False,
)
def oauth_callback(provider: str, query: OAuthCallbackQuery) -> WsgiResponse:
    try:
        reply = _finish_oauth(provider, query)
    except Problem as problem:
        if _wants_json():
            raise
        failed = redirect(f"/app/signin#error={problem.code.replace('_', '-')}", code=302)
        failed.delete_cookie(OAUTH_STATE_COOKIE, path="/v1/auth/oauth/")
        return failed
    response: WsgiResponse
    if _wants_json():
        response = jsonify(
            LoginReply(user=user_model(reply.user), expires_at=_iso(reply.expires_at)).model_dump(
                mode="json"
            )
        )
    else:
        response = redirect(reply.next_path or "/app", code=302)
    set_session_cookies(response, reply.session_token, from_timestamp(reply.expires_at))
    response.delete_cookie(OAUTH_STATE_COOKIE, path="/v1/auth/oauth/")
    return response


def _finish_oauth(provider: str, query: OAuthCallbackQuery) -> auth_pb2.FinishOAuthResponse:
    if query.error:
        raise Problem(401, "oauth-failed", "the provider did not sign you in")
    expected = request.cookies.get(OAUTH_STATE_COOKIE, "")
    if not query.state or not expected or not hmac.compare_digest(query.state, expected):
        raise Problem(400, "invalid-state", "the sign-in state does not match this browser")
    with calling("auth"):
        reply: auth_pb2.FinishOAuthResponse = _backends().auth.FinishOAuth(
            auth_pb2.FinishOAuthRequest(
                provider=provider,
                code=query.code,
                state=query.state,
                previous_session_token=request.cookies.get(session_cookie_name(), ""),
            )
        )
    return reply
