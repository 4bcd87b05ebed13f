"""gRPC entry point of auth: translates messages to use cases and back."""

from __future__ import annotations

from typing import Any

from picopt.auth.v1 import auth_pb2, auth_pb2_grpc
from picopt.kernel.db import utcnow
from picopt.kernel.protos import from_timestamp, to_timestamp
from services.auth.call_log import ApiCall
from services.auth.models import ApiCallRecord, ApiKey, OAuthIdentity, User
from services.auth.oauth import OAuthSignIn
from services.auth.service import AuthService
from services.auth.throttle import LoginThrottled


def user_message(user: User) -> auth_pb2.User:
    return auth_pb2.User(
        id=user.id,
        name=user.name,
        email=user.email,
        email_confirmed=user.email_confirmed_at is not None,
        created_at=to_timestamp(user.created_at),
        pending_email=user.pending_email is not None,
        vision_provider=user.vision_provider or "",
        language=user.language or "",
    )


def key_message(key: ApiKey) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=to_timestamp(key.created_at),
        last_used_at=to_timestamp(key.last_used_at),
    )


def call_message(call: ApiCallRecord) -> auth_pb2.ApiCall:
    return auth_pb2.ApiCall(
        user_id=call.user_id,
        method=call.method,
        route=call.route,
        status=call.status,
        duration_ms=call.duration_ms,
        at=to_timestamp(call.at),
        key_id=call.key_id or "",
    )


def mask_subject(subject: str) -> str:
    """The provider's account id shown as its last four characters, when it has enough."""
    return "••••" + subject[-4:] if len(subject) >= 8 else "••••"


def identity_message(identity: OAuthIdentity) -> auth_pb2.Identity:
    return auth_pb2.Identity(
        id=identity.id,
        provider=identity.provider,
        subject_hint=mask_subject(identity.subject),
        linked_at=to_timestamp(identity.created_at),
    )


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, service: AuthService, oauth: OAuthSignIn) -> None:
        self.service = service
        self.oauth = oauth

    def SignUp(self, request: auth_pb2.SignUpRequest, context: Any) -> auth_pb2.SignUpResponse:
        self.service.accounts.sign_up(request.name, request.email, request.password)
        return auth_pb2.SignUpResponse()

    def ConfirmEmail(
        self, request: auth_pb2.ConfirmEmailRequest, context: Any
    ) -> auth_pb2.ConfirmEmailResponse:
        return auth_pb2.ConfirmEmailResponse(
            user=user_message(self.service.accounts.confirm_email(request.token))
        )

    def RequestPasswordReset(
        self, request: auth_pb2.RequestPasswordResetRequest, context: Any
    ) -> auth_pb2.RequestPasswordResetResponse:
        self.service.accounts.request_password_reset(request.email)
        return auth_pb2.RequestPasswordResetResponse()

    def ResetPassword(
        self, request: auth_pb2.ResetPasswordRequest, context: Any
    ) -> auth_pb2.ResetPasswordResponse:
        keys = self.service.accounts.reset_password(
            request.token, request.new_password, request.revoke_api_keys
        )
        return auth_pb2.ResetPasswordResponse(api_keys_revoked=keys)

    def LogIn(self, request: auth_pb2.LogInRequest, context: Any) -> auth_pb2.LogInResponse:
        try:
            signed = self.service.sessions.log_in(
                request.email,
                request.password,
                request.client_address,
                request.previous_session_token,
            )
        except LoginThrottled as throttled:
            return auth_pb2.LogInResponse(retry_after_s=throttled.retry_after_s)
        return auth_pb2.LogInResponse(
            user=user_message(signed.user),
            session_token=signed.token,
            expires_at=to_timestamp(signed.expires),
        )

    def LogOut(self, request: auth_pb2.LogOutRequest, context: Any) -> auth_pb2.LogOutResponse:
        self.service.sessions.log_out(request.session_token)
        return auth_pb2.LogOutResponse()

    def LogOutEverywhere(
        self, request: auth_pb2.LogOutEverywhereRequest, context: Any
    ) -> auth_pb2.LogOutEverywhereResponse:
        ended, keys = self.service.sessions.log_out_everywhere(
            request.user_id, request.revoke_api_keys
        )
        return auth_pb2.LogOutEverywhereResponse(sessions_ended=ended, api_keys_revoked=keys)

    def VerifyPassword(
        self, request: auth_pb2.VerifyPasswordRequest, context: Any
    ) -> auth_pb2.VerifyPasswordResponse:
        try:
            self.service.accounts.verify_password(
                request.user_id, request.password, request.client_address
            )
        except LoginThrottled as throttled:
            return auth_pb2.VerifyPasswordResponse(retry_after_s=throttled.retry_after_s)
        return auth_pb2.VerifyPasswordResponse()

    def AuthenticateSession(
        self, request: auth_pb2.AuthenticateSessionRequest, context: Any
    ) -> auth_pb2.AuthenticateSessionResponse:
        return auth_pb2.AuthenticateSessionResponse(
            user_id=self.service.sessions.authenticate_session(request.session_token)
        )

    def AuthenticateApiKey(
        self, request: auth_pb2.AuthenticateApiKeyRequest, context: Any
    ) -> auth_pb2.AuthenticateApiKeyResponse:
        user_id, key_id = self.service.api_keys.authenticate_api_key(request.api_key)
        return auth_pb2.AuthenticateApiKeyResponse(user_id=user_id, key_id=key_id)

    def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: Any
    ) -> auth_pb2.CreateApiKeyResponse:
        key, secret = self.service.api_keys.create_api_key(request.user_id, request.name)
        return auth_pb2.CreateApiKeyResponse(key=key_message(key), secret=secret)

    def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: Any
    ) -> auth_pb2.ListApiKeysResponse:
        keys = self.service.api_keys.list_api_keys(request.user_id)
        return auth_pb2.ListApiKeysResponse(keys=[key_message(k) for k in keys])

    def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: Any
    ) -> auth_pb2.RevokeApiKeyResponse:
        self.service.api_keys.revoke_api_key(request.user_id, request.key_id)
        return auth_pb2.RevokeApiKeyResponse()

    def GetUser(self, request: auth_pb2.GetUserRequest, context: Any) -> auth_pb2.GetUserResponse:
        return auth_pb2.GetUserResponse(
            user=user_message(self.service.accounts.get_user(request.user_id))
        )

    def UpdateAccount(
        self, request: auth_pb2.UpdateAccountRequest, context: Any
    ) -> auth_pb2.UpdateAccountResponse:
        user = self.service.accounts.update_account(
            request.user_id,
            name=request.name if request.HasField("name") else None,
            email=request.email if request.HasField("email") else None,
            current_password=request.current_password,
            vision_provider=(
                request.vision_provider if request.HasField("vision_provider") else None
            ),
            language=request.language if request.HasField("language") else None,
        )
        return auth_pb2.UpdateAccountResponse(user=user_message(user))

    def ChangePassword(
        self, request: auth_pb2.ChangePasswordRequest, context: Any
    ) -> auth_pb2.ChangePasswordResponse:
        token, expires = self.service.accounts.change_password(
            request.user_id, request.current_password, request.new_password
        )
        return auth_pb2.ChangePasswordResponse(
            session_token=token, expires_at=to_timestamp(expires)
        )

    def StartOAuth(
        self, request: auth_pb2.StartOAuthRequest, context: Any
    ) -> auth_pb2.StartOAuthResponse:
        url, state = self.oauth.start(request.provider, request.redirect_uri, request.next_path)
        return auth_pb2.StartOAuthResponse(authorization_url=url, state=state)

    def FinishOAuth(
        self, request: auth_pb2.FinishOAuthRequest, context: Any
    ) -> auth_pb2.FinishOAuthResponse:
        signed, created, next_path = self.oauth.finish(
            request.provider, request.code, request.state, request.previous_session_token
        )
        if request.previous_session_token:  # rotation: only once the new session exists
            self.service.sessions.log_out(request.previous_session_token)
        return auth_pb2.FinishOAuthResponse(
            user=user_message(signed.user),
            session_token=signed.token,
            expires_at=to_timestamp(signed.expires),
            created=created,
            next_path=next_path,
        )

    def RecordApiCalls(
        self, request: auth_pb2.RecordApiCallsRequest, context: Any
    ) -> auth_pb2.RecordApiCallsResponse:
        self.service.call_log.record_api_calls(
            ApiCall(
                user_id=c.user_id,
                method=c.method,
                route=c.route,
                status=c.status,
                duration_ms=c.duration_ms,
                at=from_timestamp(c.at) or utcnow(),
                key_id=c.key_id,
            )
            for c in request.calls
        )
        return auth_pb2.RecordApiCallsResponse()

    def ListApiCalls(
        self, request: auth_pb2.ListApiCallsRequest, context: Any
    ) -> auth_pb2.ListApiCallsResponse:
        calls = self.service.call_log.list_api_calls(request.user_id, request.limit or 50)
        return auth_pb2.ListApiCallsResponse(calls=[call_message(c) for c in calls])

    def ListIdentities(
        self, request: auth_pb2.ListIdentitiesRequest, context: Any
    ) -> auth_pb2.ListIdentitiesResponse:
        methods = self.service.identities.sign_in_methods(request.user_id)
        return auth_pb2.ListIdentitiesResponse(
            identities=[identity_message(i) for i in methods.identities],
            has_password=methods.has_password,
        )

    def UnlinkIdentity(
        self, request: auth_pb2.UnlinkIdentityRequest, context: Any
    ) -> auth_pb2.UnlinkIdentityResponse:
        self.service.identities.unlink_identity(request.user_id, request.identity_id)
        return auth_pb2.UnlinkIdentityResponse()

    def DisableAccount(
        self, request: auth_pb2.DisableAccountRequest, context: Any
    ) -> auth_pb2.DisableAccountResponse:
        with self.service.db.session() as s:
            self.service.disable_user(s, request.user_id)
        return auth_pb2.DisableAccountResponse()
