"""In-memory stand-ins for the gRPC clients the gateway uses (`Backends`), for route unit tests.

Each fake implements the methods of its service's stub that the gateway calls, with enough
state to behave like the real service (users, sessions, keys, credits, jobs, requests), and
fails the way the real one does: a `grpc.RpcError` with the status and the stable error code in
the trailing metadata, as `picopt.kernel.errors` sends them. `down = True` makes every call
fail with UNAVAILABLE, like a stopped service.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from picopt.auth.v1 import auth_pb2
from picopt.billing.v1 import billing_pb2
from picopt.kernel.errors import ERROR_CODE_KEY
from picopt.kernel.protos import to_timestamp
from picopt.processor.v1 import processor_pb2
from picopt.retention.v1 import retention_pb2
from picopt.vision.v1 import vision_pb2
from services.gateway.backends import Backends


class FakeRpcError(grpc.RpcError):
    """What a stub raises: status, details and the stable code in the trailing metadata."""

    def __init__(self, status: grpc.StatusCode, code: str = "", details: str = "") -> None:
        super().__init__(details)
        self._status, self._code, self._details = status, code, details

    def code(self) -> grpc.StatusCode:
        return self._status

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return ((ERROR_CODE_KEY, self._code),) if self._code else ()


class _Service:
    """`down = True`: every RPC fails as if the service were stopped; `calls` logs RPC names."""

    def __init__(self) -> None:
        self.down = False
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        attr = object.__getattribute__(self, name)
        if not (name[:1].isupper() and callable(attr)):
            return attr

        def call(request: Any, **_options: Any) -> Any:
            """Like a stub method: takes `timeout=`, `metadata=` and ignores them."""
            object.__getattribute__(self, "calls").append(name)
            if object.__getattribute__(self, "down"):
                raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, details="connection refused")
            return attr(request)

        return call


def _not_found(what: str) -> FakeRpcError:
    return FakeRpcError(grpc.StatusCode.NOT_FOUND, f"{what}_not_found", f"{what} not found")


@dataclass
class _Account:
    user: auth_pb2.User
    password: str
    disabled: bool = False


class FakeAuth(_Service):
    """Accounts, sessions, API keys and identities of the auth service."""

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, _Account] = {}
        self.sessions: dict[str, str] = {}
        self.keys: dict[str, tuple[str, auth_pb2.ApiKey]] = {}
        self.confirm_tokens: dict[str, str] = {}
        self.reset_tokens: dict[str, str] = {}
        self.identities: dict[str, list[auth_pb2.Identity]] = {}
        self.api_calls: list[auth_pb2.ApiCall] = []
        self._serial = itertools.count(1)

    # -- helpers for tests ---------------------------------------------------------------
    def add_user(self, email: str, password: str = "a long passphrase", name: str = "Ada") -> str:
        """A confirmed account; returns its id."""
        user_id = str(uuid.uuid4())
        user = auth_pb2.User(
            id=user_id, name=name, email=email, email_confirmed=True, created_at=_now()
        )
        self.accounts[user_id] = _Account(user, password)
        return user_id

    def session_for(self, user_id: str) -> str:
        token = f"session-{next(self._serial)}"
        self.sessions[token] = user_id
        return token

    def key_for(self, user_id: str, name: str = "test") -> str:
        reply = self.CreateApiKey(auth_pb2.CreateApiKeyRequest(user_id=user_id, name=name))
        return reply.secret

    def _by_email(self, email: str) -> _Account | None:
        return next((a for a in self.accounts.values() if a.user.email == email.lower()), None)

    def _account(self, user_id: str) -> _Account:
        account = self.accounts.get(user_id)
        if account is None or account.disabled:
            raise _not_found("user")
        return account

    # -- the AuthService methods the gateway calls ---------------------------------------
    def SignUp(self, request: auth_pb2.SignUpRequest) -> auth_pb2.SignUpResponse:
        if self._by_email(request.email) is None:
            user_id = str(uuid.uuid4())
            user = auth_pb2.User(
                id=user_id, name=request.name, email=request.email.lower(), created_at=_now()
            )
            self.accounts[user_id] = _Account(user, request.password)
            self.confirm_tokens[f"confirm-{user_id}"] = user_id
        return auth_pb2.SignUpResponse()

    def ConfirmEmail(self, request: auth_pb2.ConfirmEmailRequest) -> auth_pb2.ConfirmEmailResponse:
        user_id = self.confirm_tokens.pop(request.token, "")
        if not user_id:
            raise FakeRpcError(grpc.StatusCode.NOT_FOUND, "invalid_token", "unknown token")
        account = self._account(user_id)
        account.user.email_confirmed = True
        return auth_pb2.ConfirmEmailResponse(user=account.user)

    def LogIn(self, request: auth_pb2.LogInRequest) -> auth_pb2.LogInResponse:
        account = self._by_email(request.email)
        if account is None or account.disabled or account.password != request.password:
            raise FakeRpcError(
                grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials", "wrong email or password"
            )
        if not account.user.email_confirmed:
            raise FakeRpcError(
                grpc.StatusCode.FAILED_PRECONDITION, "email_not_confirmed", "confirm first"
            )
        token = self.session_for(account.user.id)
        expires = to_timestamp(datetime.now(UTC) + timedelta(days=14))
        return auth_pb2.LogInResponse(user=account.user, session_token=token, expires_at=expires)

    def LogOut(self, request: auth_pb2.LogOutRequest) -> auth_pb2.LogOutResponse:
        self.sessions.pop(request.session_token, None)
        return auth_pb2.LogOutResponse()

    def LogOutEverywhere(
        self, request: auth_pb2.LogOutEverywhereRequest
    ) -> auth_pb2.LogOutEverywhereResponse:
        ended = [t for t, u in self.sessions.items() if u == request.user_id]
        for token in ended:
            del self.sessions[token]
        revoked = self._revoke_keys(request.user_id) if request.revoke_api_keys else 0
        return auth_pb2.LogOutEverywhereResponse(
            sessions_ended=len(ended), api_keys_revoked=revoked
        )

    def _revoke_keys(self, user_id: str) -> int:
        mine = [secret for secret, (owner, _) in self.keys.items() if owner == user_id]
        for secret in mine:
            del self.keys[secret]
        return len(mine)

    def VerifyPassword(
        self, request: auth_pb2.VerifyPasswordRequest
    ) -> auth_pb2.VerifyPasswordResponse:
        if self._account(request.user_id).password != request.password:
            raise FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials", "wrong")
        return auth_pb2.VerifyPasswordResponse()

    def AuthenticateSession(
        self, request: auth_pb2.AuthenticateSessionRequest
    ) -> auth_pb2.AuthenticateSessionResponse:
        user_id = self.sessions.get(request.session_token)
        if user_id is None or self.accounts[user_id].disabled:
            raise FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "invalid_session", "sign in")
        return auth_pb2.AuthenticateSessionResponse(user_id=user_id)

    def AuthenticateApiKey(
        self, request: auth_pb2.AuthenticateApiKeyRequest
    ) -> auth_pb2.AuthenticateApiKeyResponse:
        found = self.keys.get(request.api_key)
        if found is None or self.accounts[found[0]].disabled:
            raise FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "invalid_api_key", "bad key")
        found[1].last_used_at.CopyFrom(_now())
        return auth_pb2.AuthenticateApiKeyResponse(user_id=found[0], key_id=found[1].id)

    def CreateApiKey(self, request: auth_pb2.CreateApiKeyRequest) -> auth_pb2.CreateApiKeyResponse:
        self._account(request.user_id)
        secret = f"po_live_{uuid.uuid4().hex}"
        key = auth_pb2.ApiKey(
            id=str(uuid.uuid4()), name=request.name, prefix=secret[:12], created_at=_now()
        )
        self.keys[secret] = (request.user_id, key)
        return auth_pb2.CreateApiKeyResponse(key=key, secret=secret)

    def ListApiKeys(self, request: auth_pb2.ListApiKeysRequest) -> auth_pb2.ListApiKeysResponse:
        mine = [k for u, k in self.keys.values() if u == request.user_id]
        return auth_pb2.ListApiKeysResponse(keys=mine)

    def RevokeApiKey(self, request: auth_pb2.RevokeApiKeyRequest) -> auth_pb2.RevokeApiKeyResponse:
        for secret, (user_id, key) in list(self.keys.items()):
            if key.id == request.key_id and user_id == request.user_id:
                del self.keys[secret]
                return auth_pb2.RevokeApiKeyResponse()
        raise _not_found("api_key")

    def GetUser(self, request: auth_pb2.GetUserRequest) -> auth_pb2.GetUserResponse:
        return auth_pb2.GetUserResponse(user=self._account(request.user_id).user)

    def UpdateAccount(
        self, request: auth_pb2.UpdateAccountRequest
    ) -> auth_pb2.UpdateAccountResponse:
        account = self._account(request.user_id)
        user = account.user
        if request.HasField("email"):
            if request.current_password != account.password:
                raise FakeRpcError(
                    grpc.StatusCode.PERMISSION_DENIED, "wrong_password", "wrong password"
                )
            user.pending_email = True
        for name in ("name", "vision_provider", "language"):
            if request.HasField(name):
                setattr(user, name, getattr(request, name))
        return auth_pb2.UpdateAccountResponse(user=user)

    def ChangePassword(
        self, request: auth_pb2.ChangePasswordRequest
    ) -> auth_pb2.ChangePasswordResponse:
        account = self._account(request.user_id)
        if request.current_password != account.password:
            raise FakeRpcError(grpc.StatusCode.PERMISSION_DENIED, "wrong_password", "wrong")
        account.password = request.new_password
        self.LogOutEverywhere(auth_pb2.LogOutEverywhereRequest(user_id=request.user_id))
        token = self.session_for(request.user_id)
        expires = to_timestamp(datetime.now(UTC) + timedelta(days=14))
        return auth_pb2.ChangePasswordResponse(session_token=token, expires_at=expires)

    def RequestPasswordReset(
        self, request: auth_pb2.RequestPasswordResetRequest
    ) -> auth_pb2.RequestPasswordResetResponse:
        account = self._by_email(request.email)
        if account is not None:
            self.reset_tokens[f"reset-{account.user.id}"] = account.user.id
        return auth_pb2.RequestPasswordResetResponse()

    def ResetPassword(
        self, request: auth_pb2.ResetPasswordRequest
    ) -> auth_pb2.ResetPasswordResponse:
        user_id = self.reset_tokens.pop(request.token, "")
        if not user_id:
            raise FakeRpcError(grpc.StatusCode.NOT_FOUND, "invalid_token", "unknown token")
        self._account(user_id).password = request.new_password
        ended = self.LogOutEverywhere(
            auth_pb2.LogOutEverywhereRequest(
                user_id=user_id, revoke_api_keys=request.revoke_api_keys
            )
        )
        return auth_pb2.ResetPasswordResponse(api_keys_revoked=ended.api_keys_revoked)

    def StartOAuth(self, request: auth_pb2.StartOAuthRequest) -> auth_pb2.StartOAuthResponse:
        raise FakeRpcError(grpc.StatusCode.NOT_FOUND, "unknown_provider", "not configured")

    def FinishOAuth(self, request: auth_pb2.FinishOAuthRequest) -> auth_pb2.FinishOAuthResponse:
        raise FakeRpcError(grpc.StatusCode.NOT_FOUND, "unknown_provider", "not configured")

    def RecordApiCalls(
        self, request: auth_pb2.RecordApiCallsRequest
    ) -> auth_pb2.RecordApiCallsResponse:
        self.api_calls.extend(request.calls)
        return auth_pb2.RecordApiCallsResponse()

    def ListApiCalls(self, request: auth_pb2.ListApiCallsRequest) -> auth_pb2.ListApiCallsResponse:
        mine = [c for c in self.api_calls if c.user_id == request.user_id]
        return auth_pb2.ListApiCallsResponse(calls=mine[-(request.limit or 100) :])

    def ListIdentities(
        self, request: auth_pb2.ListIdentitiesRequest
    ) -> auth_pb2.ListIdentitiesResponse:
        return auth_pb2.ListIdentitiesResponse(
            identities=self.identities.get(request.user_id, []), has_password=True
        )

    def UnlinkIdentity(
        self, request: auth_pb2.UnlinkIdentityRequest
    ) -> auth_pb2.UnlinkIdentityResponse:
        mine = self.identities.get(request.user_id, [])
        kept = [i for i in mine if i.id != request.identity_id]
        if len(kept) == len(mine):
            raise _not_found("identity")
        self.identities[request.user_id] = kept
        return auth_pb2.UnlinkIdentityResponse()

    def DisableAccount(
        self, request: auth_pb2.DisableAccountRequest
    ) -> auth_pb2.DisableAccountResponse:
        self._account(request.user_id).disabled = True
        return auth_pb2.DisableAccountResponse()


class FakeBilling(_Service):
    """Credits per user and reservations per job; one pack for sale."""

    PACK = billing_pb2.Pack(id="pack_100", name="100 credits", credits=100, amount=500)

    def __init__(self, credits: int = 20) -> None:
        super().__init__()
        self.initial = credits
        self.available: dict[str, int] = {}
        self.reserved: dict[str, tuple[str, int]] = {}
        self.released: list[str] = []

    def _balance(self, user_id: str) -> int:
        return self.available.setdefault(user_id, self.initial)

    def GetBalance(self, request: billing_pb2.GetBalanceRequest) -> billing_pb2.GetBalanceResponse:
        reserved = sum(c for u, c in self.reserved.values() if u == request.user_id)
        return billing_pb2.GetBalanceResponse(
            available=self._balance(request.user_id), reserved=reserved
        )

    def Reserve(self, request: billing_pb2.ReserveRequest) -> billing_pb2.ReserveResponse:
        price = max(request.outputs, 1) + (1 if request.with_metadata else 0)
        if self._balance(request.user_id) < price:
            raise FakeRpcError(
                grpc.StatusCode.FAILED_PRECONDITION, "insufficient_credits", "buy credits"
            )
        self.available[request.user_id] -= price
        self.reserved[request.job_id] = (request.user_id, price)
        return billing_pb2.ReserveResponse(credits=price, available=self.available[request.user_id])

    def Release(self, request: billing_pb2.ReleaseRequest) -> billing_pb2.ReleaseResponse:
        user_id, price = self.reserved.pop(request.job_id, ("", 0))
        if user_id:
            self.available[user_id] += price
        self.released.append(request.job_id)
        return billing_pb2.ReleaseResponse(credits=price)

    def ListPacks(self, request: billing_pb2.ListPacksRequest) -> billing_pb2.ListPacksResponse:
        return billing_pb2.ListPacksResponse(
            packs=[self.PACK], image_cost=1, metadata_cost=1, currency="eur"
        )

    def CreateCheckout(
        self, request: billing_pb2.CreateCheckoutRequest
    ) -> billing_pb2.CreateCheckoutResponse:
        if request.pack_id != self.PACK.id:
            raise FakeRpcError(grpc.StatusCode.NOT_FOUND, "unknown_pack", "no such pack")
        return billing_pb2.CreateCheckoutResponse(
            purchase_id=str(uuid.uuid4()), mode="checkout", checkout_url="https://pay.test/x"
        )

    def ListPurchases(
        self, request: billing_pb2.ListPurchasesRequest
    ) -> billing_pb2.ListPurchasesResponse:
        return billing_pb2.ListPurchasesResponse()

    def ListUsage(self, request: billing_pb2.ListUsageRequest) -> billing_pb2.ListUsageResponse:
        return billing_pb2.ListUsageResponse()

    def HandleStripeWebhook(
        self, request: billing_pb2.HandleStripeWebhookRequest
    ) -> billing_pb2.HandleStripeWebhookResponse:
        raise FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "invalid_signature", "bad signature")


class FakeProcessor(_Service):
    """Jobs by id; each stays `queued` unless a test finishes it with `finish`."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, processor_pb2.Job] = {}
        self.downloaded: list[str] = []

    def finish(self, job_id: str, output_key: str, fmt: str = "webp") -> None:
        job = self.jobs[job_id]
        job.status = "done"
        job.outputs.append(processor_pb2.JobOutput(blob_key=output_key, format=fmt, bytes=1))
        job.output_format, job.result_key = fmt, output_key

    def _mine(self, job_id: str, owner_id: str) -> processor_pb2.Job:
        job = self.jobs.get(job_id)
        if job is None or job.owner_id != owner_id:
            raise _not_found("job")
        return job

    def CreateJob(self, request: processor_pb2.CreateJobRequest) -> processor_pb2.CreateJobResponse:
        job = processor_pb2.Job(
            id=request.job_id,
            owner_id=request.owner_id,
            status="queued",
            options=request.options,
            input_format=request.input_format,
            input_bytes=request.input_bytes,
            input_name=request.input_name,
            created_at=_now(),
            updated_at=_now(),
            expires_at=request.expires_at,
        )
        self.jobs[job.id] = job
        return processor_pb2.CreateJobResponse(job=job)

    def GetJob(self, request: processor_pb2.GetJobRequest) -> processor_pb2.GetJobResponse:
        return processor_pb2.GetJobResponse(job=self._mine(request.job_id, request.owner_id))

    def ListJobs(self, request: processor_pb2.ListJobsRequest) -> processor_pb2.ListJobsResponse:
        mine = [j for j in self.jobs.values() if j.owner_id == request.owner_id]
        return processor_pb2.ListJobsResponse(jobs=mine[::-1][: request.page_size or 20])

    def CancelJob(self, request: processor_pb2.CancelJobRequest) -> processor_pb2.CancelJobResponse:
        job = self._mine(request.job_id, request.owner_id)
        if job.status not in ("queued", "processing"):
            raise FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "job_finished", "too late")
        job.status = "cancelled"
        return processor_pb2.CancelJobResponse(job=job)

    def MarkResultDownloaded(
        self, request: processor_pb2.MarkResultDownloadedRequest
    ) -> processor_pb2.MarkResultDownloadedResponse:
        self._mine(request.job_id, request.owner_id)
        self.downloaded.append(request.job_id)
        return processor_pb2.MarkResultDownloadedResponse()


class FakeRetention(_Service):
    """Retention's PrivacyService: requests, sessions, the policy and the retention facts."""

    def __init__(self, image_ttl: timedelta = timedelta(hours=24)) -> None:
        super().__init__()
        self.image_ttl = image_ttl
        self.requests: list[retention_pb2.PrivacyRequest] = []
        self.sessions: dict[str, retention_pb2.ProcessingSession] = {}
        self.session_owners: dict[str, str] = {}

    def _request(self, user_id: str, kind: str) -> retention_pb2.PrivacyRequest:
        now = datetime.now(UTC)
        request = retention_pb2.PrivacyRequest(
            id=str(uuid.uuid4()),
            user_id=user_id,
            kind=kind,
            status="open",
            created_at=to_timestamp(now),
            deadline=to_timestamp(now + timedelta(days=30)),
        )
        self.requests.append(request)
        return request

    def RequestErasure(
        self, request: retention_pb2.RequestErasureRequest
    ) -> retention_pb2.RequestErasureResponse:
        return retention_pb2.RequestErasureResponse(
            request=self._request(request.user_id, "erasure")
        )

    def RequestExport(
        self, request: retention_pb2.RequestExportRequest
    ) -> retention_pb2.RequestExportResponse:
        return retention_pb2.RequestExportResponse(request=self._request(request.user_id, "export"))

    def GetExport(self, request: retention_pb2.GetExportRequest) -> retention_pb2.GetExportResponse:
        if not any(
            r.id == request.export_id and r.user_id == request.user_id for r in self.requests
        ):
            raise _not_found("export")
        return retention_pb2.GetExportResponse(status="pending")

    def GetPolicy(self, request: retention_pb2.GetPolicyRequest) -> retention_pb2.GetPolicyResponse:
        policy = retention_pb2.Policy(
            version="1", effective_date="2026-01-01", text="We keep little.", published_at=_now()
        )
        return retention_pb2.GetPolicyResponse(policy=policy)

    def GetRetentionFacts(
        self, request: retention_pb2.GetRetentionFactsRequest
    ) -> retention_pb2.GetRetentionFactsResponse:
        reply = retention_pb2.GetRetentionFactsResponse()
        reply.image_ttl.FromTimedelta(self.image_ttl)
        reply.download_grace.FromTimedelta(timedelta(minutes=5))
        reply.log_age.FromTimedelta(timedelta(days=90))
        reply.erasure_deadline.FromTimedelta(timedelta(days=30))
        reply.export_ttl.FromTimedelta(timedelta(hours=24))
        reply.session_ttl.FromTimedelta(timedelta(hours=1))
        reply.policy_notice.FromTimedelta(timedelta(days=30))
        return reply

    def OpenSession(
        self, request: retention_pb2.OpenSessionRequest
    ) -> retention_pb2.OpenSessionResponse:
        now = datetime.now(UTC)
        ttl = timedelta(seconds=request.ttl_seconds or 3600)
        session = retention_pb2.ProcessingSession(
            id=str(uuid.uuid4()),
            status="open",
            created_at=to_timestamp(now),
            expires_at=to_timestamp(now + ttl),
        )
        self.sessions[session.id] = session
        self.session_owners[session.id] = request.user_id
        return retention_pb2.OpenSessionResponse(session=session)

    def _session(self, user_id: str, session_id: str) -> retention_pb2.ProcessingSession:
        if self.session_owners.get(session_id) != user_id:
            raise _not_found("session")
        return self.sessions[session_id]

    def GetSession(
        self, request: retention_pb2.GetSessionRequest
    ) -> retention_pb2.GetSessionResponse:
        return retention_pb2.GetSessionResponse(
            session=self._session(request.user_id, request.session_id)
        )

    def CloseSession(
        self, request: retention_pb2.CloseSessionRequest
    ) -> retention_pb2.CloseSessionResponse:
        session = self._session(request.user_id, request.session_id)
        session.status = "closed"
        session.ended_at.CopyFrom(_now())
        return retention_pb2.CloseSessionResponse(session=session)


class FakeVision(_Service):
    """Vision's provider facts: `providers` as (name, sends images off the machine)."""

    def __init__(self, providers: tuple[tuple[str, bool], ...] = (("local", False),)) -> None:
        super().__init__()
        self.providers = providers

    def GetProviders(
        self, request: vision_pb2.GetProvidersRequest
    ) -> vision_pb2.GetProvidersResponse:
        return vision_pb2.GetProvidersResponse(
            default_provider=self.providers[0][0],
            providers=[
                vision_pb2.AiProvider(name=n, sends_images_off_machine=e) for n, e in self.providers
            ],
        )


@dataclass
class FakeBackends(Backends):
    """`Backends` with an in-memory fake behind every client."""

    auth: FakeAuth = field(default_factory=FakeAuth)
    billing: FakeBilling = field(default_factory=FakeBilling)
    processor: FakeProcessor = field(default_factory=FakeProcessor)
    retention: FakeRetention = field(default_factory=FakeRetention)
    vision: FakeVision = field(default_factory=FakeVision)
    channels: list[grpc.Channel] = field(default_factory=list)


def _now() -> Any:
    return to_timestamp(datetime.now(UTC))
