"""gRPC entry point of auth: translates messages to use cases and back."""

from __future__ import annotations

from typing import Any

from picopt.auth.v1 import auth_pb2, auth_pb2_grpc
from picopt.kernel.protos import to_timestamp
from services.auth.models import ApiKey, User
from services.auth.service import AuthService


def user_message(user: User) -> auth_pb2.User:
    return auth_pb2.User(
        id=user.id,
        name=user.name,
        email=user.email,
        email_confirmed=user.email_confirmed_at is not None,
        created_at=to_timestamp(user.created_at),
    )


def key_message(key: ApiKey) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=to_timestamp(key.created_at),
        last_used_at=to_timestamp(key.last_used_at),
    )


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, service: AuthService) -> None:
        self.service = service

    def SignUp(self, request: auth_pb2.SignUpRequest, context: Any) -> auth_pb2.SignUpResponse:
        user = self.service.sign_up(request.name, request.email, request.password)
        return auth_pb2.SignUpResponse(user=user_message(user))

    def LogIn(self, request: auth_pb2.LogInRequest, context: Any) -> auth_pb2.LogInResponse:
        user, token, expires = self.service.log_in(request.email, request.password)
        return auth_pb2.LogInResponse(
            user=user_message(user), session_token=token, expires_at=to_timestamp(expires)
        )

    def LogOut(self, request: auth_pb2.LogOutRequest, context: Any) -> auth_pb2.LogOutResponse:
        self.service.log_out(request.session_token)
        return auth_pb2.LogOutResponse()

    def AuthenticateSession(
        self, request: auth_pb2.AuthenticateSessionRequest, context: Any
    ) -> auth_pb2.AuthenticateSessionResponse:
        return auth_pb2.AuthenticateSessionResponse(
            user_id=self.service.authenticate_session(request.session_token)
        )

    def AuthenticateApiKey(
        self, request: auth_pb2.AuthenticateApiKeyRequest, context: Any
    ) -> auth_pb2.AuthenticateApiKeyResponse:
        user_id, key_id = self.service.authenticate_api_key(request.api_key)
        return auth_pb2.AuthenticateApiKeyResponse(user_id=user_id, key_id=key_id)

    def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: Any
    ) -> auth_pb2.CreateApiKeyResponse:
        key, secret = self.service.create_api_key(request.user_id, request.name)
        return auth_pb2.CreateApiKeyResponse(key=key_message(key), secret=secret)

    def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: Any
    ) -> auth_pb2.ListApiKeysResponse:
        keys = self.service.list_api_keys(request.user_id)
        return auth_pb2.ListApiKeysResponse(keys=[key_message(k) for k in keys])

    def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: Any
    ) -> auth_pb2.RevokeApiKeyResponse:
        self.service.revoke_api_key(request.user_id, request.key_id)
        return auth_pb2.RevokeApiKeyResponse()

    def GetUser(self, request: auth_pb2.GetUserRequest, context: Any) -> auth_pb2.GetUserResponse:
        return auth_pb2.GetUserResponse(user=user_message(self.service.get_user(request.user_id)))
