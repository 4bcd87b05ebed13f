"""Data exports: gather each service's part over gRPC into one zip of JSON files.

The archive is stored like an image (encrypted, owned by the user, with a
deadline of at most 24 hours) and tracked so retention deletes it on time. A
service that is down leaves the export pending; the timer tries again.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from sqlalchemy import select

from picopt.kernel.blobstore import BlobStore
from picopt.kernel.db import Database, as_utc, utcnow
from picopt.kernel.errors import NotFound
from picopt.kernel.logs import get_logger
from picopt.privacy.v1 import privacy_pb2
from services.retention.models import DataExport, PrivacyRequest, RequestAudit, TrackedObject
from services.retention.policy import RetentionPolicy
from services.retention.requests import audit, mark_completed

log = get_logger(__name__)

PENDING, READY, EXPIRED = "pending", "ready", "expired"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ExportStatus:
    status: str
    blob_key: str
    expires_at: datetime | None


@dataclass
class Exports:
    db: Database
    blobs: BlobStore
    policy: RetentionPolicy
    # service name -> DataSubjectService stub
    stubs: Mapping[str, Any]
    deadline_s: float = 10.0
    clock: Callable[[], datetime] = utcnow

    def status(self, user_id: str, export_id: str) -> ExportStatus:
        with self.db.session(readonly=True) as s:
            row = s.get(DataExport, export_id) if export_id else None
            # Another user's export is indistinguishable from a missing one.
            if row is None or row.user_id != user_id:
                raise NotFound("export not found", code="export_not_found")
            expires = as_utc(row.expires_at) if row.expires_at else None
            if row.status == READY and (expires is None or expires <= self.clock()):
                return ExportStatus(EXPIRED, "", expires)
            return ExportStatus(row.status, row.blob_key if row.status == READY else "", expires)

    def build_pending(self) -> int:
        """Timer: build every pending archive whose services all answer."""
        with self.db.session(readonly=True) as s:
            pending = list(s.scalars(select(DataExport).where(DataExport.status == PENDING)))
            s.expunge_all()
        return sum(self._build(row) for row in pending)

    def expire(self) -> int:
        """Timer: mark archives past their deadline (the blob itself goes with delete_due)."""
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(DataExport).where(
                        DataExport.status == READY, DataExport.expires_at <= self.clock()
                    )
                )
            )
            for row in rows:
                row.status = EXPIRED
                audit(s, row.request_id, "export_expired")
        return len(rows)

    def _gather(self, user_id: str) -> tuple[dict[str, bytes], list[str]]:
        files: dict[str, bytes] = {}
        missing: list[str] = []
        for service in self.policy.exporters:
            try:
                reply = self.stubs[service].ExportUserData(
                    privacy_pb2.ExportUserDataRequest(user_id=user_id), timeout=self.deadline_s
                )
            except grpc.RpcError as err:
                log.warning("export_service_failed", service=service, code=err.code().name)
                missing.append(service)
                continue
            for f in reply.files:
                files[f"{service}/{f.name}"] = f.content
        return files, missing

    def _build(self, export: DataExport) -> bool:
        files, missing = self._gather(export.user_id)
        with self.db.session() as s:
            row = s.get(DataExport, export.request_id)
            request = s.get(PrivacyRequest, export.request_id)
            if row is None or request is None or row.status != PENDING:
                return False
            row.attempts += 1
            if missing:
                if row.attempts == 1 or row.attempts % 50 == 0:
                    audit(s, row.request_id, "export_waiting", detail=",".join(missing))
                return False
            # Completed first, so the archive's own request shows its final state.
            mark_completed(s, request, "export")
            s.flush()
            files["retention/requests.json"] = _requests_json(s, export.user_id)
            created = self.clock()
            expires = created + self.policy.export_ttl
            key = f"exports/{export.request_id}.zip"
            archive = _zip(files, export.user_id, created, expires)
            self.blobs.put(key, archive, owner=export.user_id, deadline=expires)
            s.add(
                TrackedObject(
                    key=key,
                    job_id=export.request_id,
                    kind="export",
                    delete_after=expires,
                    cause="deadline",
                )
            )
            row.status, row.blob_key, row.expires_at = READY, key, expires
            audit(s, row.request_id, "export_ready", detail=f"{len(files)} files")
        log.info("export_ready", request_id=export.request_id, files=len(files))
        return True


def _requests_json(s: Any, user_id: str) -> bytes:
    requests = list(
        s.scalars(
            select(PrivacyRequest)
            .where(PrivacyRequest.user_id == user_id)
            .order_by(PrivacyRequest.created_at)
        )
    )
    out = []
    for r in requests:
        trail = s.scalars(
            select(RequestAudit).where(RequestAudit.request_id == r.id).order_by(RequestAudit.id)
        )
        out.append(
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "created_at": _iso(r.created_at),
                "deadline": _iso(r.deadline),
                "completed_at": _iso(r.completed_at),
                "audit": [
                    {"at": _iso(a.at), "action": a.action, "service": a.service} for a in trail
                ],
            }
        )
    return json.dumps({"requests": out}, indent=2).encode()


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).astimezone(UTC).isoformat() if value else None


def _zip(files: dict[str, bytes], user_id: str, created: datetime, expires: datetime) -> bytes:
    manifest = {
        "format_version": FORMAT_VERSION,
        "user_id": user_id,
        "created_at": created.isoformat(),
        "expires_at": expires.isoformat(),
        "files": sorted(files),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=2))
        for name in sorted(files):
            z.writestr(name, files[name])
    return buffer.getvalue()
