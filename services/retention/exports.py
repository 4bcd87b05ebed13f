"""Data exports: stream each service's part over gRPC into one zip of JSON files.

Every service streams its files in chunks (`DataSubjectService/StreamUserData`);
they go straight into a zip spooled to a temporary file, so gathering a user with
a long history keeps memory flat. The archive's `manifest.json` counts the rows
exported from every table and names the tables deliberately left out, with why.
The archive is stored like an image (encrypted, owned by the user, with a
deadline of at most 24 hours) and tracked so retention deletes it on time. A
service that is down leaves the export pending; the timer tries again.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import grpc
from sqlalchemy import select
from sqlalchemy.orm import Session

from picopt.kernel.blobstore import BlobStore
from picopt.kernel.db import Database, as_utc, utcnow
from picopt.kernel.errors import NotFound
from picopt.kernel.exports import ExportPart, export_chunks
from picopt.kernel.logs import get_logger
from picopt.privacy.v1 import privacy_pb2
from services.retention.models import DataExport, PrivacyRequest, TrackedObject
from services.retention.policy import RetentionPolicy
from services.retention.requests import audit, mark_completed

log = get_logger(__name__)

PENDING, READY, EXPIRED = "pending", "ready", "expired"
FORMAT_VERSION = 2
# Archives up to this size are built in memory, larger ones in a temporary file.
SPOOL_BYTES = 8 * 1024 * 1024
# Tables that name users but are not exported, and why (the README lists the same).
NOT_EXPORTED = {
    "*.outbox": (
        "events on their way to other services: ids, keys and amounts of what the export "
        "already holds; deleted once published and older than the log retention"
    ),
}

OwnParts = Callable[[Session, str], Iterable[ExportPart]]


@dataclass(frozen=True)
class ExportStatus:
    status: str
    blob_key: str
    expires_at: datetime | None


@dataclass(frozen=True)
class ExportView:
    """An export as its user sees it in the list."""

    id: str
    status: str
    created_at: datetime
    expires_at: datetime | None


@dataclass
class Manifest:
    """Files written and rows exported per table ("<service>.<table>")."""

    files: list[str] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)

    def add(self, service: str, chunk: privacy_pb2.StreamUserDataResponse) -> None:
        self.files.append(f"{service}/{chunk.name}")
        if chunk.table:
            table = f"{service}.{chunk.table}"
            self.tables[table] = self.tables.get(table, 0) + int(chunk.rows)


def _write(archive: zipfile.ZipFile, service: str, chunks: Iterable[Any], m: Manifest) -> None:
    """Chunks of one service's files, in order, into the archive."""
    entry: IO[bytes] | None = None
    try:
        for chunk in chunks:
            if entry is None:
                entry = archive.open(f"{service}/{chunk.name}", "w", force_zip64=True)
            entry.write(chunk.data)
            if chunk.end:
                entry.close()
                entry = None
                m.add(service, chunk)
    finally:
        if entry is not None:
            entry.close()


@dataclass
class Exports:
    db: Database
    blobs: BlobStore
    policy: RetentionPolicy
    # service name -> DataSubjectService stub
    stubs: Mapping[str, Any]
    # Retention's own part (requests, sessions, exports, policy mails), read in its transaction.
    own_parts: OwnParts = lambda _s, _user: ()
    deadline_s: float = 600.0
    clock: Callable[[], datetime] = utcnow

    def status(self, user_id: str, export_id: str) -> ExportStatus:
        with self.db.session(readonly=True) as s:
            row = s.get(DataExport, export_id) if export_id else None
            # Another user's export is indistinguishable from a missing one.
            if row is None or row.user_id != user_id:
                raise NotFound("export not found", code="export_not_found")
            return self._status(row)

    def _status(self, row: DataExport) -> ExportStatus:
        expires = as_utc(row.expires_at) if row.expires_at else None
        if row.status == READY and (expires is None or expires <= self.clock()):
            return ExportStatus(EXPIRED, "", expires)
        return ExportStatus(row.status, row.blob_key if row.status == READY else "", expires)

    def list(self, user_id: str) -> list[ExportView]:
        """The user's exports, newest first, with what can still be downloaded."""
        with self.db.session(readonly=True) as s:
            rows = s.execute(
                select(DataExport, PrivacyRequest.created_at)
                .join(PrivacyRequest, PrivacyRequest.id == DataExport.request_id)
                .where(DataExport.user_id == user_id)
                .order_by(PrivacyRequest.created_at.desc())
            ).all()
            return [
                ExportView(
                    row.request_id,
                    self._status(row).status,
                    as_utc(created),
                    as_utc(row.expires_at) if row.expires_at else None,
                )
                for row, created in rows
            ]

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

    def _gather(self, user_id: str, archive: zipfile.ZipFile, manifest: Manifest) -> str:
        """Every service's files into the archive; the first service that fails, or ""."""
        request = privacy_pb2.StreamUserDataRequest(user_id=user_id)
        for service in self.policy.exporters:
            try:
                stream = self.stubs[service].StreamUserData(request, timeout=self.deadline_s)
                _write(archive, service, stream, manifest)
            except grpc.RpcError as err:
                log.warning("export_service_failed", service=service, code=err.code().name)
                return service
        return ""

    def _build(self, export: DataExport) -> bool:
        with (
            tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool,
            zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive,
        ):
            manifest = Manifest()
            missing = self._gather(export.user_id, archive, manifest)
            with self.db.session() as s:
                row = s.get(DataExport, export.request_id)
                request = s.get(PrivacyRequest, export.request_id)
                if row is None or request is None or row.status != PENDING:
                    return False
                row.attempts += 1
                if missing:
                    if row.attempts == 1 or row.attempts % 50 == 0:
                        audit(s, row.request_id, "export_waiting", detail=missing)
                    return False
                # Completed first, so the archive's own request shows its final state.
                mark_completed(s, request, "export")
                s.flush()
                own = export_chunks(self.own_parts(s, row.user_id))
                _write(archive, "retention", own, manifest)
                created = self.clock()
                expires = created + self.policy.export_ttl
                archive.writestr(
                    "manifest.json", _manifest(manifest, row.user_id, created, expires)
                )
                archive.close()
                spool.seek(0)
                key = f"exports/{export.request_id}.zip"
                self.blobs.put(key, spool.read(), owner=export.user_id, deadline=expires)
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
                audit(s, row.request_id, "export_ready", detail=f"{len(manifest.files)} files")
        log.info("export_ready", request_id=export.request_id, files=len(manifest.files))
        return True


def _manifest(m: Manifest, user_id: str, created: datetime, expires: datetime) -> str:
    return json.dumps(
        {
            "format_version": FORMAT_VERSION,
            "user_id": user_id,
            "created_at": created.isoformat(),
            "expires_at": expires.isoformat(),
            "files": sorted(m.files),
            "rows_per_table": dict(sorted(m.tables.items())),
            "not_exported": NOT_EXPORTED,
        },
        indent=2,
    )
