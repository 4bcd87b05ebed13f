"""Processor's part of privacy requests: erasure, log purge and export of jobs.

Erasure cancels the user's running jobs (their `job.failed` releases credits
and makes retention delete the images) and deletes every job row, including
file names and AI metadata. Jobs are the processing log: rows that ended
before the purge cutoff are deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from picopt.kernel.db import Database
from picopt.kernel.exports import ROWS_PER_FETCH, ExportPart
from picopt.kernel.messaging import Outbox
from picopt.kernel.privacy import PrivacyParticipant
from picopt.vision.v1 import vision_pb2
from services.processor.jobs import fail_job
from services.processor.models import ACTIVE, FINAL, Job


class ProcessorPrivacy:
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox
        self.participant = PrivacyParticipant(
            "processor", outbox, self.erase, self.purge, self.export, dead_letter_ids=self.job_ids
        )

    @staticmethod
    def job_ids(s: Session, user_id: str) -> list[str]:
        """The user's jobs: a dead `job.analyzed` names only its job."""
        return list(s.scalars(select(Job.id).where(Job.owner_id == user_id)))

    def erase(self, s: Session, user_id: str) -> dict[str, int]:
        jobs = list(s.scalars(select(Job).where(Job.owner_id == user_id).with_for_update()))
        cancelled = 0
        for job in jobs:
            if job.status in ACTIVE:
                fail_job(
                    self.outbox, s, job, "account_erased", "account erased", status="cancelled"
                )
                cancelled += 1
        s.flush()
        deleted = s.execute(delete(Job).where(Job.owner_id == user_id))
        return {"jobs_cancelled": cancelled, "jobs": int(deleted.rowcount or 0)}  # type: ignore[attr-defined]

    def purge(self, s: Session, older_than: datetime) -> dict[str, int]:
        jobs = s.execute(delete(Job).where(Job.status.in_(FINAL), Job.updated_at < older_than))
        return {"jobs": int(jobs.rowcount or 0)}  # type: ignore[attr-defined]

    def export(self, user_id: str) -> Iterator[ExportPart]:
        """Every job of the user with its options, sizes, AI metadata and (while its results
        exist) preview and BlurHash, streamed a page at a time."""
        with self.db.session(readonly=True) as s:
            jobs = s.scalars(
                select(Job)
                .where(Job.owner_id == user_id)
                .order_by(Job.created_at, Job.id)
                .execution_options(yield_per=ROWS_PER_FETCH)
            )
            yield ExportPart("jobs.json", "jobs", (_job(j) for j in jobs))


def _job(j: Job) -> dict[str, Any]:
    metadata = None
    if j.metadata_pb:
        metadata = MessageToDict(vision_pb2.ImageMetadata.FromString(j.metadata_pb))
    return {
        "id": j.id,
        "status": j.status,
        "options": j.options,
        "input": {
            "name": j.input_name,
            "format": j.input_format,
            "bytes": j.input_bytes,
            "width": j.input_width,
            "height": j.input_height,
        },
        "output": {
            "format": j.output_format,
            "bytes": j.output_bytes,
            "width": j.output_width,
            "height": j.output_height,
            "variants": [{k: v for k, v in o.items() if k != "blob_key"} for o in j.outputs or []],
        },
        "ssimulacra2": j.ssimulacra2,
        "ai_metadata": metadata,
        "error": {"code": j.error_code, "message": j.error_message} if j.error_code else None,
        "processing_ms": j.processing_ms,
        "created_at": j.created_at,
        "updated_at": j.updated_at,
        "expires_at": j.expires_at,
        "downloaded_at": j.downloaded_at,
        "placeholder": {"blurhash": j.blurhash, "lqip": j.lqip} if j.blurhash or j.lqip else None,
        "results_deleted_at": j.results_deleted_at,
    }
