"""Job use cases for the processor's gRPC API: create, read, list, cancel, downloaded."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict, ParseDict
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from picopt.events.v1 import events_pb2
from picopt.kernel import metrics
from picopt.kernel.db import Database, as_utc, utcnow
from picopt.kernel.errors import FailedPrecondition, InvalidArgument, NotFound
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import Outbox
from picopt.kernel.protos import from_timestamp, to_timestamp
from picopt.processor.v1 import processor_pb2
from picopt.vision.v1 import vision_pb2
from services.processor.models import ACTIVE, Job

log = get_logger(__name__)


def options_to_dict(options: processor_pb2.JobOptions) -> dict[str, Any]:
    return MessageToDict(options, preserving_proto_field_name=True)


def options_from_dict(data: dict[str, Any]) -> processor_pb2.JobOptions:
    return ParseDict(data, processor_pb2.JobOptions())


def job_message(job: Job) -> processor_pb2.Job:
    msg = processor_pb2.Job(
        id=job.id,
        owner_id=job.owner_id,
        status=job.status,
        options=options_from_dict(job.options or {}),
        input_name=job.input_name,
        input_format=job.input_format,
        input_bytes=job.input_bytes,
        input_width=job.input_width,
        input_height=job.input_height,
        output_format=job.output_format,
        output_bytes=job.output_bytes,
        output_width=job.output_width,
        output_height=job.output_height,
        result_key=job.result_key,
        ssimulacra2=job.ssimulacra2,
        no_gain=job.no_gain,
        blurhash=job.blurhash,
        lqip=job.lqip,
        created_at=to_timestamp(job.created_at),
        updated_at=to_timestamp(job.updated_at),
        expires_at=to_timestamp(job.expires_at),
        result_gone=job.results_deleted_at is not None or as_utc(job.expires_at) <= utcnow(),
        outputs=[processor_pb2.JobOutput(**o) for o in job.outputs or []],
        larger_reason=(job.outputs or [{}])[0].get("larger_reason", ""),
    )
    if job.metadata_pb:
        msg.metadata.CopyFrom(vision_pb2.ImageMetadata.FromString(job.metadata_pb))
    if job.error_code:
        msg.error.CopyFrom(processor_pb2.JobError(code=job.error_code, message=job.error_message))
    return msg


def _require_owner(owner_id: str) -> None:
    """Every call on a user's jobs names the user: an empty owner is a caller's bug, never
    "any owner" (that would hand every job to whoever forgets to send it)."""
    if not owner_id:
        raise InvalidArgument("owner_id is required", code="owner_required")


def _encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, job_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created), str(job_id)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument("cursor is not valid", code="invalid_cursor") from exc


class JobService:
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    def create(self, request: processor_pb2.CreateJobRequest) -> Job:
        """Create the job and its job.submitted event in one transaction; repeats return it."""
        if not request.job_id or not request.owner_id or not request.input_key:
            raise InvalidArgument("job_id, owner_id and input_key are required")
        expires = from_timestamp(request.expires_at)
        if expires is None:
            raise InvalidArgument("expires_at is required")
        with self.db.session() as s:
            job = s.get(Job, request.job_id)
            if job is not None:
                if job.owner_id != request.owner_id:
                    raise InvalidArgument("job id is taken")
                s.expunge(job)
                return job
            created = utcnow()
            job = Job(
                id=request.job_id,
                owner_id=request.owner_id,
                status="queued",
                options=options_to_dict(request.options),
                input_key=request.input_key,
                input_name=request.input_name[:255],
                input_format=request.input_format,
                input_bytes=request.input_bytes,
                outputs=[],
                created_at=created,
                updated_at=created,
                expires_at=expires,
            )
            s.add(job)
            s.flush()
            count_transition(s, "new", "queued")
            self.outbox.add(
                s,
                "job.submitted",
                events_pb2.JobSubmitted(
                    job_id=job.id,
                    owner_id=job.owner_id,
                    input_key=job.input_key,
                    options=request.options,
                    expires_at=request.expires_at,
                ),
            )
            s.expunge(job)
        log.info("job_created", job_id=job.id)
        return job

    def _owned(self, s: Session, job_id: str, owner_id: str) -> Job:
        _require_owner(owner_id)
        job = s.get(Job, job_id) if job_id else None
        # Another tenant's job is indistinguishable from a missing one.
        if job is None or job.owner_id != owner_id:
            raise NotFound("job not found", code="job_not_found")
        return job

    def get(self, job_id: str, owner_id: str) -> Job:
        with self.db.session() as s:
            job = self._owned(s, job_id, owner_id)
            s.expunge(job)
            return job

    def list(self, owner_id: str, page_size: int, cursor: str) -> tuple[list[Job], str]:
        _require_owner(owner_id)
        size = min(max(page_size or 20, 1), 100)
        query = select(Job).where(Job.owner_id == owner_id)
        if cursor:
            created, job_id = _decode_cursor(cursor)
            query = query.where(
                or_(Job.created_at < created, and_(Job.created_at == created, Job.id < job_id))
            )
        with self.db.session() as s:
            jobs = list(
                s.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(size + 1))
            )
            s.expunge_all()
        next_cursor = _encode_cursor(jobs[size - 1]) if len(jobs) > size else ""
        return jobs[:size], next_cursor

    def cancel(self, job_id: str, owner_id: str) -> Job:
        with self.db.session() as s:
            job = self._owned(s, job_id, owner_id)
            if job.status not in ACTIVE:
                raise FailedPrecondition(f"job is {job.status}", code="job_not_active")
            fail_job(self.outbox, s, job, "cancelled", "cancelled by the user", status="cancelled")
            s.flush()
            s.expunge(job)
        return job

    def mark_downloaded(self, job_id: str, owner_id: str) -> None:
        with self.db.session() as s:
            job = self._owned(s, job_id, owner_id)
            if job.status != "done":
                raise FailedPrecondition("job has no result", code="job_not_done")
            if job.downloaded_at is not None:
                return
            job.downloaded_at = utcnow()
            self.outbox.add(
                s,
                "result.downloaded",
                events_pb2.ResultDownloaded(
                    job_id=job.id,
                    owner_id=job.owner_id,
                    result_key=job.result_key,
                    downloaded_at=to_timestamp(job.downloaded_at),
                    output_keys=[o["blob_key"] for o in job.outputs or []],
                ),
            )


def count_transition(s: Session, from_status: str, to_status: str) -> None:
    """Count a status change once its transaction commits (picopt_job_transitions_total)."""
    metrics.after_commit(
        s, metrics.JOB_TRANSITIONS.labels(from_status=from_status, to_status=to_status).inc
    )


def forget_image_traces(job: Job) -> None:
    """Drop the 16-px preview, the BlurHash and the file name once the job's images are gone.

    They are image data and a name the user chose: they must not outlive the images.
    """
    job.lqip = ""
    job.blurhash = ""
    job.input_name = ""
    job.results_deleted_at = job.results_deleted_at or utcnow()


def fail_job(
    outbox: Outbox, s: Session, job: Job, code: str, message: str, status: str = "failed"
) -> None:
    """End a job unsuccessfully; job.failed releases its credits and retention deletes its
    images (the upload and any stored outputs, each deletion audited), so the row forgets
    their traces now."""
    count_transition(s, job.status, status)
    job.status = status
    job.error_code = code
    job.error_message = message[:500]
    job.updated_at = utcnow()
    output_keys = [o["blob_key"] for o in job.outputs or []] or (
        [job.result_key] if job.result_key else []
    )
    forget_image_traces(job)
    outbox.add(
        s,
        "job.failed",
        events_pb2.JobFailed(
            job_id=job.id,
            owner_id=job.owner_id,
            input_key=job.input_key,
            code=code,
            message=message[:500],
            output_keys=output_keys,
        ),
    )
    log.info("job_failed", job_id=job.id, code=code)


def complete_job(outbox: Outbox, s: Session, job: Job) -> None:
    """Mark done and announce it: billing captures, retention deletes the original."""
    count_transition(s, job.status, "done")
    job.status = "done"
    job.updated_at = utcnow()
    outbox.add(
        s,
        "job.completed",
        events_pb2.JobCompleted(
            job_id=job.id,
            owner_id=job.owner_id,
            input_key=job.input_key,
            result_key=job.result_key,
            expires_at=to_timestamp(job.expires_at),
            output_keys=[o["blob_key"] for o in job.outputs or []],
            # outputs[0] is the main result; one more per distinct width made.
            widths_made=max(len(job.outputs or []) - 1, 0)
            if (job.options or {}).get("widths")
            else 0,
        ),
    )
    log.info("job_completed", job_id=job.id, bytes_in=job.input_bytes, bytes_out=job.output_bytes)
