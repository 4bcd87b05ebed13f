"""The signed-in account: read and update it, change the password, sign-in methods, API keys,
call log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from picopt.auth.v1 import auth_pb2
from picopt.kernel.protos import from_timestamp
from services.gateway.backends import calling
from services.gateway.identity import current_user_id, set_session_cookies
from services.gateway.job_options import language_choice, vision_provider_choice
from services.gateway.limits import remember_api_key
from services.gateway.openapi import operation
from services.gateway.problems import Problem
from services.gateway.routes_auth import user_model
from services.gateway.schemas import (
    AccountPatchBody,
    ApiCall,
    ApiCallList,
    ApiKey,
    ApiKeyBody,
    ApiKeyCreated,
    ApiKeyList,
    Identity,
    IdentityList,
    ListCallsQuery,
    PasswordChangeBody,
    UserReply,
)

bp = Blueprint("account", __name__)


def _iso(ts: Any) -> str | None:
    value = from_timestamp(ts)
    return value.isoformat() if value else None


def key_model(key: auth_pb2.ApiKey) -> ApiKey:
    return ApiKey(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=_iso(key.created_at),
        last_used_at=_iso(key.last_used_at),
    )


def _backends() -> Any:
    return current_app.extensions["backends"]


@bp.get("/v1/account")
@operation("The signed-in user", tags=["account"], responses={200: UserReply})
def account() -> Response:
    user_id = current_user_id()
    with calling("auth"):
        reply = _backends().auth.GetUser(auth_pb2.GetUserRequest(user_id=user_id))
    return jsonify(UserReply(user=user_model(reply.user)).model_dump(mode="json"))


@bp.patch("/v1/account")
@operation(
    "Update the name; change the email (needs current_password, confirmed by email); set the "
    "AI metadata defaults vision_provider (one this deployment enables) and language (BCP 47)",
    tags=["account"],
    body=AccountPatchBody,
    responses={200: UserReply},
)
def update_account(body: AccountPatchBody) -> Response:
    user_id = current_user_id()
    preferences = body.model_fields_set & {"vision_provider", "language"}
    if body.name is None and body.email is None and not preferences:
        raise Problem(400, "invalid-body", "send name, email, vision_provider and/or language")
    request = auth_pb2.UpdateAccountRequest(
        user_id=user_id, current_password=body.current_password or ""
    )
    if body.name is not None:
        request.name = body.name
    if body.email is not None:
        request.email = body.email
    if "vision_provider" in preferences:
        request.vision_provider = vision_provider_choice(
            body.vision_provider or "", current_app.extensions["settings"].env.env
        )
    if "language" in preferences:
        request.language = language_choice(body.language or "")
    with calling("auth"):
        reply = _backends().auth.UpdateAccount(request)
    return jsonify(UserReply(user=user_model(reply.user)).model_dump(mode="json"))


@bp.post("/v1/account/password")
@operation(
    "Change the password: every other session ends, this one is renewed",
    tags=["account"],
    body=PasswordChangeBody,
    responses={204: None},
)
def change_password(body: PasswordChangeBody) -> Response:
    user_id = current_user_id()
    with calling("auth"):
        reply = _backends().auth.ChangePassword(
            auth_pb2.ChangePasswordRequest(
                user_id=user_id,
                current_password=body.current_password,
                new_password=body.new_password,
            )
        )
    response = Response(status=204)
    set_session_cookies(response, reply.session_token, from_timestamp(reply.expires_at))
    return response


@bp.get("/v1/account/identities")
@operation(
    "Connected sign-in methods: linked provider identities and whether a password is set",
    tags=["account"],
    responses={200: IdentityList},
)
def identities() -> Response:
    user_id = current_user_id()
    with calling("auth"):
        reply = _backends().auth.ListIdentities(auth_pb2.ListIdentitiesRequest(user_id=user_id))
    listed = IdentityList(
        identities=[
            Identity(
                id=i.id,
                provider=i.provider,
                subject_hint=i.subject_hint,
                linked_at=_iso(i.linked_at),
            )
            for i in reply.identities
        ],
        has_password=reply.has_password,
    )
    return jsonify(listed.model_dump(mode="json"))


@bp.delete("/v1/account/identities/<identity_id>")
@operation(
    "Unlink a provider identity (409 when it is the last way to sign in)",
    tags=["account"],
    responses={204: None},
    problems=[404, 409],
)
def unlink_identity(identity_id: str) -> Response:
    user_id = current_user_id()
    with calling("auth"):
        _backends().auth.UnlinkIdentity(
            auth_pb2.UnlinkIdentityRequest(user_id=user_id, identity_id=identity_id)
        )
    return Response(status=204)


@bp.get("/v1/account/api-calls")
@operation(
    "Your recent API calls (the call log; kept 90 days)",
    tags=["account"],
    query=ListCallsQuery,
    responses={200: ApiCallList},
)
def api_calls(query: ListCallsQuery) -> Response:
    user_id = current_user_id()
    with calling("auth"):
        reply = _backends().auth.ListApiCalls(
            auth_pb2.ListApiCallsRequest(user_id=user_id, limit=query.limit)
        )
    calls = [
        ApiCall(
            method=c.method,
            route=c.route,
            status=c.status,
            duration_ms=c.duration_ms,
            at=_iso(c.at) or "",
        )
        for c in reply.calls
    ]
    return jsonify(ApiCallList(calls=calls).model_dump(mode="json"))


@bp.get("/v1/api-keys")
@operation("List API keys", tags=["api-keys"], responses={200: ApiKeyList})
def list_keys() -> Response:
    user_id = current_user_id()
    with calling("auth"):
        reply = _backends().auth.ListApiKeys(auth_pb2.ListApiKeysRequest(user_id=user_id))
    return jsonify(ApiKeyList(api_keys=[key_model(k) for k in reply.keys]).model_dump(mode="json"))


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
    remember_api_key(reply.secret)
    created = ApiKeyCreated(api_key=key_model(reply.key), key=reply.secret)
    return jsonify(created.model_dump(mode="json")), 201


@bp.delete("/v1/api-keys/<key_id>")
@operation("Revoke an API key", tags=["api-keys"], responses={204: None}, problems=[404])
def revoke_key(key_id: str) -> Response:
    user_id = current_user_id()
    with calling("auth"):
        _backends().auth.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(user_id=user_id, key_id=key_id))
    return Response(status=204)
