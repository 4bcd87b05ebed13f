"""Compliance staff answering a request made by email: find the account, mail the export.

Auth is the only holder of addresses, so both ask it over gRPC
(`RecipientService`); retention keeps no address. A delivered export is
audited on its request (how it went, never where).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from sqlalchemy import select

from picopt.kernel.blobstore import BlobNotFound, BlobStore
from picopt.kernel.db import Database
from picopt.kernel.errors import (
    AppError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from picopt.kernel.logs import get_logger
from picopt.kernel.mailer import Attachment, Mailer
from picopt.privacy.v1 import privacy_pb2
from services.retention.exports import READY, Exports
from services.retention.models import DataExport, PrivacyRequest
from services.retention.requests import Requests, RequestView, audit

log = get_logger(__name__)

DEFAULT_MAIL_MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Delivered:
    attached: bool
    archive_bytes: int


@dataclass(frozen=True)
class FoundUser:
    account: privacy_pb2.FindRecipientResponse
    requests: list[RequestView]


def _from_auth(err: grpc.RpcError, what: str) -> AppError:
    if err.code() == grpc.StatusCode.NOT_FOUND:
        return NotFound(f"{what}: no such account", code="user_not_found")
    if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(str(err.details()), code="invalid_email")
    return Unavailable(f"{what}: auth did not answer ({err.code().name})", code="auth_unavailable")


@dataclass
class Delivery:
    db: Database
    blobs: BlobStore
    exports: Exports
    requests: Requests
    mailer: Mailer
    # RecipientService stub on auth.
    recipients: Any
    public_url: str
    max_attached_bytes: int = DEFAULT_MAIL_MAX_BYTES

    def find_user(self, email: str) -> FoundUser:
        if not email.strip():
            raise InvalidArgument("email is required", code="invalid_email")
        try:
            account = self.recipients.FindRecipient(privacy_pb2.FindRecipientRequest(email=email))
        except grpc.RpcError as err:
            raise _from_auth(err, "find user") from err
        user_id = account.recipient.user_id
        log.info("staff_user_found", user_id=user_id)
        return FoundUser(account, self.requests.search(user_id=user_id))

    def deliver(self, request_id: str) -> Delivered:
        """Mail a ready export to its user: attached when small enough, else a link."""
        with self.db.session(readonly=True) as s:
            row = s.get(DataExport, request_id) if request_id else None
            if row is None:
                raise NotFound("export not found", code="export_not_found")
            user_id = row.user_id
            created = s.scalar(
                select(PrivacyRequest.created_at).where(PrivacyRequest.id == request_id)
            )
        status = self.exports.status(user_id, request_id)
        if status.status != READY:
            raise FailedPrecondition(
                f"the export is {status.status}; only a ready export can be delivered",
                code="export_not_ready",
            )
        try:
            recipient = self.recipients.GetRecipient(
                privacy_pb2.GetRecipientRequest(user_id=user_id)
            ).recipient
        except grpc.RpcError as err:
            raise _from_auth(err, "deliver export") from err
        try:
            archive = self.blobs.get(status.blob_key)
        except BlobNotFound as exc:
            raise FailedPrecondition("the export expired", code="export_not_ready") from exc
        attached = len(archive) <= self.max_attached_bytes
        base = self.public_url.rstrip("/")
        asked = created.date().isoformat() if created else "recently"
        how = (
            "The archive is attached (a zip of JSON files)."
            if attached
            else f"The archive is too large to attach: sign in at {base}/app/account to "
            f"download it, or use the API (GET {base}/v1/account/exports/{request_id})."
        )
        self.mailer.send(
            recipient.email,
            "Your data export",
            f"Hello {recipient.name},\n\nhere is the export of your data you asked for on "
            f"{asked}. {how} It can be downloaded until "
            f"{status.expires_at.strftime('%Y-%m-%d %H:%M UTC') if status.expires_at else '-'}."
            "\n\nPicture Optimizer\n",
            kind="export_delivery",
            attachments=[Attachment(f"picopt-export-{request_id}.zip", archive, "application/zip")]
            if attached
            else [],
        )
        with self.db.session() as s:
            audit(
                s,
                request_id,
                "export_delivered",
                detail=f"by mail, {'attached' if attached else 'linked'}, {len(archive)} bytes",
            )
        log.info("export_delivered", request_id=request_id, attached=attached, bytes=len(archive))
        return Delivered(attached, len(archive))
