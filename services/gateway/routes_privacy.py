"""Privacy routes: delete the account, export its data, read the privacy policy.

The gateway only translates: retention records every request (status, 30-day
deadline, audit trail), orchestrates erasure across services and builds the
export archive; the gateway streams the archive from the encrypted blob store.
"""

from __future__ import annotations

from typing import Any

import grpc
from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import BaseModel

from picopt.auth.v1 import auth_pb2
from picopt.kernel.blobstore import BlobNotFound
from picopt.kernel.logs import get_logger
from picopt.retention.v1 import retention_pb2
from services.gateway.backends import calling
from services.gateway.identity import current_user_id
from services.gateway.openapi import operation
from services.gateway.privacy_facts import PrivacyFactsSource
from services.gateway.problems import Problem
from services.gateway.schemas import AccountDeleteBody

log = get_logger(__name__)

bp = Blueprint("privacy", __name__)


class PrivacyRequestReply(BaseModel):
    """A recorded data-subject request."""

    id: str
    kind: str
    status: str
    created_at: str
    deadline: str


class ExportPendingReply(BaseModel):
    """The archive is still being gathered; poll again."""

    id: str
    status: str


class ExportItem(BaseModel):
    """One export archive of the signed-in user."""

    id: str
    status: str
    created_at: str
    expires_at: str | None
    download: str | None


class ExportList(BaseModel):
    exports: list[ExportItem]


class AiProvider(BaseModel):
    name: str
    # True when the provider gets a copy of the image over the network.
    external: bool


class PolicyVersionReply(BaseModel):
    """One published version of the privacy policy (past, in force or upcoming)."""

    version: str
    effective_date: str
    published_at: str
    material: bool
    in_effect: bool
    text: str


class PolicySummary(BaseModel):
    """A published version without its text (read it at /v1/privacy/policies/{version})."""

    version: str
    effective_date: str
    published_at: str
    material: bool
    in_effect: bool


class RetentionReply(BaseModel):
    """The durations retention enforces, in seconds."""

    image_ttl_s: int
    download_grace_s: int
    log_age_s: int
    erasure_deadline_s: int
    export_ttl_s: int
    session_ttl_s: int
    # How long before a material change takes effect every user is told.
    policy_notice_s: int


class PolicyReply(BaseModel):
    """The privacy policy in force, the changes announced, every version published, and the
    facts the services enforcing it report (retention periods, AI providers)."""

    version: str
    effective_date: str
    published_at: str
    text: str
    ai_providers: list[AiProvider]
    upcoming: list[PolicyVersionReply]
    versions: list[PolicySummary]
    default_ai_provider: str
    retention: RetentionReply


def _summary(p: retention_pb2.Policy) -> PolicySummary:
    return PolicySummary(
        version=p.version,
        effective_date=p.effective_date,
        published_at=p.published_at.ToDatetime().isoformat() + "Z",
        material=p.material,
        in_effect=p.in_effect,
    )


def _version(p: retention_pb2.Policy) -> PolicyVersionReply:
    return PolicyVersionReply(**_summary(p).model_dump(), text=p.text)


def _privacy() -> Any:
    """Retention's PrivacyService client."""
    return current_app.extensions["backends"].retention


def _facts() -> PrivacyFactsSource:
    source: PrivacyFactsSource = current_app.extensions["privacy_facts"]
    return source


def _request_reply(r: retention_pb2.PrivacyRequest) -> dict[str, Any]:
    return PrivacyRequestReply(
        id=r.id,
        kind=r.kind,
        status=r.status,
        created_at=r.created_at.ToDatetime().isoformat() + "Z",
        deadline=r.deadline.ToDatetime().isoformat() + "Z",
    ).model_dump(mode="json")


@bp.delete("/v1/account")
@operation(
    "Delete the account: disabled at once, erased everywhere within 30 days. With an API key "
    'alone, send the account password (`{"password": ...}`); an account without one must '
    "do it signed in",
    tags=["privacy"],
    body=AccountDeleteBody,
    body_optional=True,
    responses={202: PrivacyRequestReply},
    problems=[403, 429],
)
def delete_account(body: AccountDeleteBody) -> tuple[Response, int]:
    user_id = current_user_id()
    if g.auth_kind == "api_key":
        _password_again(user_id, body.password)
    with calling("retention"):
        reply = _privacy().RequestErasure(retention_pb2.RequestErasureRequest(user_id=user_id))
    # The request is recorded; now disable at once rather than when `account.erase` arrives.
    # If auth is unreachable, that event still disables the account when auth is back.
    try:
        current_app.extensions["backends"].auth.DisableAccount(
            auth_pb2.DisableAccountRequest(user_id=user_id)
        )
    except grpc.RpcError:
        log.warning("disable_at_once_failed", user_id=user_id)
    return jsonify(_request_reply(reply.request)), 202


def _password_again(user_id: str, password: str | None) -> None:
    """A leaked API key must not be enough to erase an account: ask for the password."""
    if not password:
        raise Problem(
            403,
            "reauthentication-required",
            'erasing the account with an API key needs the account password: send {"password": '
            '"..."}, or delete it signed in on the web app',
        )
    with calling("auth"):
        reply = current_app.extensions["backends"].auth.VerifyPassword(
            auth_pb2.VerifyPasswordRequest(
                user_id=user_id, password=password, client_address=request.remote_addr or ""
            )
        )
    if reply.retry_after_s:
        raise Problem(
            429,
            "login-throttled",
            f"too many wrong passwords; try again in {reply.retry_after_s} s",
            retry_after=reply.retry_after_s,
        )


@bp.post("/v1/account/export")
@operation(
    "Request a machine-readable export (a zip of JSON files, downloadable for 24 hours)",
    tags=["privacy"],
    responses={202: PrivacyRequestReply},
)
def request_export() -> tuple[Response, int]:
    user_id = current_user_id()
    with calling("retention"):
        reply = _privacy().RequestExport(retention_pb2.RequestExportRequest(user_id=user_id))
    return jsonify(_request_reply(reply.request)), 202


@bp.get("/v1/account/export/<export_id>")
@operation(
    "Download the export archive once it is ready (it expires within 24 hours)",
    tags=["privacy"],
    responses={200: "application/zip", 202: ExportPendingReply},
    problems=[404, 410],
)
def download_export(export_id: str) -> Response | tuple[Response, int]:
    return _export_archive(export_id)


@bp.get("/v1/account/exports")
@operation(
    "Your exports, newest first: pending, ready (with the download link) or expired",
    tags=["privacy"],
    responses={200: ExportList},
)
def list_exports() -> Response:
    user_id = current_user_id()
    with calling("retention"):
        reply = _privacy().ListExports(retention_pb2.ListExportsRequest(user_id=user_id))
    items = [
        ExportItem(
            id=e.id,
            status=e.status,
            created_at=e.created_at.ToDatetime().isoformat() + "Z",
            expires_at=e.expires_at.ToDatetime().isoformat() + "Z"
            if e.expires_at.seconds
            else None,
            download=f"/v1/account/exports/{e.id}" if e.status == "ready" else None,
        )
        for e in reply.exports
    ]
    return jsonify(ExportList(exports=items).model_dump(mode="json"))


@bp.get("/v1/account/exports/<export_id>")
@operation(
    "Download one of your exports once it is ready (it expires within 24 hours)",
    tags=["privacy"],
    responses={200: "application/zip", 202: ExportPendingReply},
    problems=[404, 410],
)
def download_listed_export(export_id: str) -> Response | tuple[Response, int]:
    return _export_archive(export_id)


def _export_archive(export_id: str) -> Response | tuple[Response, int]:
    """The zip of the signed-in user's export; 202 while pending, 410 once expired."""
    user_id = current_user_id()
    with calling("retention"):
        reply = _privacy().GetExport(
            retention_pb2.GetExportRequest(user_id=user_id, export_id=export_id)
        )
    if reply.status == "pending":
        pending = ExportPendingReply(id=export_id, status="pending").model_dump(mode="json")
        return jsonify(pending), 202
    if reply.status != "ready":
        raise Problem(410, "export-gone", "the export expired; request a new one")
    try:
        blob = current_app.extensions["blobs"].open(reply.blob_key, owner=user_id)
    except BlobNotFound as exc:
        raise Problem(410, "export-gone", "the export expired; request a new one") from exc
    return Response(
        iter(blob),
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="picopt-export-{export_id}.zip"',
            "Content-Length": str(blob.info.size),
            "Cache-Control": "no-store",
        },
    )


@bp.get("/v1/privacy")
@operation(
    "The privacy policy in force (its version, date and text), the changes announced, every "
    "version published, and the retention periods and AI providers as the services that "
    "enforce them report",
    tags=["privacy"],
    responses={200: PolicyReply},
    problems=[404],
    auth=False,
)
def privacy_policy() -> Response:
    with calling("retention"):
        found = _privacy().GetPolicy(retention_pb2.GetPolicyRequest())
    policy = found.policy
    retention, providers = _facts().retention(), _facts().providers()
    reply = PolicyReply(
        version=policy.version,
        effective_date=policy.effective_date,
        published_at=policy.published_at.ToDatetime().isoformat() + "Z",
        text=policy.text,
        ai_providers=[AiProvider(name=n, external=e) for n, e in providers.providers],
        upcoming=[_version(p) for p in found.upcoming],
        versions=[_summary(p) for p in found.versions],
        default_ai_provider=providers.default,
        retention=RetentionReply(
            image_ttl_s=int(retention.image_ttl.total_seconds()),
            download_grace_s=int(retention.download_grace.total_seconds()),
            log_age_s=int(retention.log_age.total_seconds()),
            erasure_deadline_s=int(retention.erasure_deadline.total_seconds()),
            export_ttl_s=int(retention.export_ttl.total_seconds()),
            session_ttl_s=int(retention.session_ttl.total_seconds()),
            policy_notice_s=int(retention.policy_notice.total_seconds()),
        ),
    )
    return jsonify(reply.model_dump(mode="json"))


@bp.get("/v1/privacy/policies/<version>")
@operation(
    "One published version of the privacy policy: every past version stays readable, and an "
    "announced change can be read before it takes effect",
    tags=["privacy"],
    responses={200: PolicyVersionReply},
    problems=[404],
    auth=False,
)
def privacy_policy_version(version: str) -> Response:
    with calling("retention"):
        found = _privacy().GetPolicy(retention_pb2.GetPolicyRequest(version=version))
    return jsonify(_version(found.policy).model_dump(mode="json"))
