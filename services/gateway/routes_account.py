"""Sign-up, sign-in and API keys."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from picopt.auth.v1 import auth_pb2
from picopt.kernel.protos import from_timestamp
from services.gateway.backends import calling
from services.gateway.identity import CSRF_COOKIE, current_user_id, session_cookie_name
from services.gateway.openapi import operation
from services.gateway.schemas import (
    ApiKeyBody,
    ApiKeyCreated,
    ApiKeyList,
    LoginBody,
    LoginReply,
    SignupBody,
    UserReply,
)

bp = Blueprint("account", __name__)


def user_json(user: auth_pb2.User) -> dict[str, Any]:
    created = from_timestamp(user.created_at)
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "email_confirmed": user.email_confirmed,
        "created_at": created.isoformat() if created else None,
    }


def key_json(key: auth_pb2.ApiKey) -> dict[str, Any]:
    created, used = from_timestamp(key.created_at), from_timestamp(key.last_used_at)
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": created.isoformat() if created else None,
        "last_used_at": used.isoformat() if used else None,
    }


def _backends() -> Any:
    return current_app.extensions["backends"]


@bp.post("/v1/auth/signup")
@operation(
    "Create an account",
    tags=["auth"],
    body=SignupBody,
    responses={201: UserReply},
    problems=[409],
    auth=False,
)
def signup(body: SignupBody) -> tuple[Response, int]:
    with calling("auth"):
        reply = _backends().auth.SignUp(
            auth_pb2.SignUpRequest(name=body.name, email=body.email, password=body.password)
        )
    return jsonify({"user": user_json(reply.user)}), 201


@bp.post("/v1/auth/login")
@operation("Sign in", tags=["auth"], body=LoginBody, responses={200: LoginReply}, auth=False)
def login(body: LoginBody) -> Response:
    with calling("auth"):
        reply = _backends().auth.LogIn(
            auth_pb2.LogInRequest(
                email=body.email,
                password=body.password,
                client_address=request.remote_addr or "",
            )
        )
    expires = from_timestamp(reply.expires_at)
    response = jsonify(
        {"user": user_json(reply.user), "expires_at": expires.isoformat() if expires else None}
    )
    secure = current_app.config["COOKIE_SECURE"]
    response.set_cookie(
        session_cookie_name(),
        reply.session_token,
        expires=expires,
        httponly=True,
        secure=secure,
        samesite="Lax",
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        secrets.token_urlsafe(24),
        expires=expires,
        httponly=False,
        secure=secure,
        samesite="Lax",
        path="/",
    )
    return response


@bp.post("/v1/auth/logout")
@operation("Sign out of this session", tags=["auth"], responses={204: None})
def logout() -> tuple[str, int]:
    current_user_id()
    token = request.cookies.get(session_cookie_name(), "")
    if token:
        with calling("auth"):
            _backends().auth.LogOut(auth_pb2.LogOutRequest(session_token=token))
    return "", 204


@bp.get("/v1/account")
@operation("The signed-in user", tags=["account"], responses={200: UserReply})
def account() -> Response:
    user_id = current_user_id()
    with calling("auth"):
        reply = _backends().auth.GetUser(auth_pb2.GetUserRequest(user_id=user_id))
    return jsonify({"user": user_json(reply.user)})


@bp.get("/v1/api-keys")
@operation("List API keys", tags=["api-keys"], responses={200: ApiKeyList})
def list_keys() -> Response:
    user_id = current_user_id()
    with calling("auth"):
        reply = _backends().auth.ListApiKeys(auth_pb2.ListApiKeysRequest(user_id=user_id))
    return jsonify({"api_keys": [key_json(k) for k in reply.keys]})


@bp.post("/v1/api-keys")
@operation(
    "Create an API key (shown once)",
    tags=["api-keys"],
    body=ApiKeyBody,
    responses={201: ApiKeyCreated},
)
def create_key(body: ApiKeyBody) -> tuple[Response, int]:
    user_id = current_user_id()
    with calling("auth"):
        reply = _backends().auth.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(user_id=user_id, name=body.name)
        )
    return jsonify({"api_key": key_json(reply.key), "key": reply.secret}), 201


@bp.delete("/v1/api-keys/<key_id>")
@operation("Revoke an API key", tags=["api-keys"], responses={204: None}, problems=[404])
def revoke_key(key_id: str) -> tuple[str, int]:
    user_id = current_user_id()
    with calling("auth"):
        _backends().auth.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(user_id=user_id, key_id=key_id))
    return "", 204
