"""Processor workers: optimize the image of each `job.submitted`, store the result.

Safe under redelivery: a job already past processing is skipped, results are
written under deterministic keys, so a worker killed mid-job only means
another worker does the same job again, and only one job.optimized/completed
event is ever written for it (the status check and the event share a
transaction, guarded by a row lock).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from picopt.events.v1 import events_pb2
from picopt.kernel.blobstore import BlobNotFound, BlobStore
from picopt.kernel.db import Database
from picopt.kernel.logs import bound_context, get_logger
from picopt.kernel.messaging import HandlerContext, Outbox, Subscription
from picopt.kernel.protos import to_timestamp
from picopt.processor.v1 import processor_pb2
from services.processor.engine import EngineError, Limits, OptimizeOptions, optimize_isolated
from services.processor.jobs import complete_job, fail_job, now
from services.processor.models import Job

log = get_logger(__name__)

_STARTABLE = ("queued", "processing")


def engine_options(options: processor_pb2.JobOptions) -> OptimizeOptions:
    quality = options.quality or "auto"
    return OptimizeOptions(
        format=options.format or "auto",
        accept=tuple(options.accept),
        quality=quality,
        width=options.width or None,
        height=options.height or None,
        fit=options.fit or "inside",
        widths=tuple(options.widths),
        keep_metadata=options.keep_metadata or "none",
        placeholder=options.placeholder,
    )


@dataclass
class Worker:
    db: Database
    blobs: BlobStore
    outbox: Outbox
    limits: Limits
    max_attempts: int

    def subscriptions(self) -> list[Subscription]:
        return [Subscription("job.submitted", events_pb2.JobSubmitted, self.on_submitted)]

    def _claim(self, job_id: str) -> Job | None:
        """Mark the job processing in its own short transaction, so users see progress."""
        with self.db.session() as s:
            job = s.get(Job, job_id, with_for_update=True)
            if job is None or job.status not in _STARTABLE:
                return None
            job.status = "processing"
            job.attempts += 1
            job.updated_at = now()
            s.flush()
            s.expunge(job)
            return job

    def on_submitted(self, ctx: HandlerContext) -> None:
        event: events_pb2.JobSubmitted = ctx.payload  # type: ignore[assignment]
        with bound_context(job_id=event.job_id):
            job = self._claim(event.job_id)
            if job is None:
                log.info("job_skipped", reason="not_startable")
                return
            try:
                self._process(ctx, job, event)
            except Exception:
                if ctx.attempt < self.max_attempts:
                    raise
                log.exception("job_crashed")
                assert ctx.session is not None
                ctx.session.rollback()  # drop any half-made change before recording the failure
                self._finish_failed(
                    ctx, job.id, "internal_error", "processing failed; credits were released"
                )

    def _process(self, ctx: HandlerContext, job: Job, event: events_pb2.JobSubmitted) -> None:
        assert ctx.session is not None
        started = time.perf_counter()
        try:
            data = self.blobs.get(job.input_key)
        except BlobNotFound:
            self._finish_failed(ctx, job.id, "input_gone", "the upload no longer exists")
            return
        try:
            result = optimize_isolated(data, engine_options(event.options), self.limits)
        except EngineError as err:
            self._finish_failed(ctx, job.id, err.code, err.message)
            return
        outputs: list[dict[str, Any]] = []
        for index, output in enumerate(result.outputs):
            key = f"results/{job.id}/{index}"
            self.blobs.put(key, output.data, owner=job.owner_id, deadline=job.expires_at)
            outputs.append(
                {
                    "blob_key": key,
                    "format": output.format,
                    "bytes": len(output.data),
                    "width": output.width,
                    "height": output.height,
                }
            )
        s = ctx.session
        row = s.get(Job, job.id, with_for_update=True)
        if row is None or row.status != "processing":
            log.info("job_skipped", reason="finished_elsewhere")
            return
        main = result.main
        row.input_format = result.format_in
        row.input_width, row.input_height = result.width_in, result.height_in
        row.output_format, row.output_bytes = main.format, len(main.data)
        row.output_width, row.output_height = main.width, main.height
        row.ssimulacra2 = main.ssimulacra2 or 0.0
        row.no_gain = main.no_gain
        row.blurhash, row.lqip = result.blurhash or "", result.lqip or ""
        row.result_key = outputs[0]["blob_key"]
        row.outputs = outputs
        row.processing_ms = int((time.perf_counter() - started) * 1000)
        row.updated_at = now()
        if event.options.metadata:
            row.status = "analyzing"
            self.outbox.add(
                s,
                "job.optimized",
                events_pb2.JobOptimized(
                    job_id=row.id,
                    owner_id=row.owner_id,
                    result_key=row.result_key,
                    metadata=True,
                    expires_at=to_timestamp(row.expires_at),
                ),
            )
        else:
            complete_job(self.outbox, s, row)
        log.info(
            "job_optimized",
            format_in=row.input_format,
            format_out=row.output_format,
            bytes_in=row.input_bytes,
            bytes_out=row.output_bytes,
            ms=row.processing_ms,
        )

    def _finish_failed(self, ctx: HandlerContext, job_id: str, code: str, message: str) -> None:
        assert ctx.session is not None
        row = ctx.session.get(Job, job_id, with_for_update=True)
        if row is not None and row.status in _STARTABLE:
            fail_job(self.outbox, ctx.session, row, code, message)
