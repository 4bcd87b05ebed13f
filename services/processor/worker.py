"""Processor workers: optimize the image of each `job.submitted`, store the result.

The slow part (fetch, optimize, store) runs before any transaction opens;
then the outcome and its event are recorded in one transaction. Safe under
redelivery: a job already past processing is skipped, results are written
under deterministic keys, so a worker killed mid-job only means another
worker does the same job again, and only one job.optimized/completed event is
ever written for it (status check and event share a row-locked transaction).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from picopt.events.v1 import events_pb2
from picopt.kernel import metrics, tracing
from picopt.kernel.blobstore import BlobNotFound, BlobStore
from picopt.kernel.db import Database, utcnow
from picopt.kernel.logs import bound_context, get_logger
from picopt.kernel.messaging import HandlerContext, Outbox, Subscription, is_transient
from picopt.kernel.protos import to_timestamp
from picopt.processor.v1 import processor_pb2
from services.processor.engine import (
    EngineError,
    EngineInterrupted,
    Limits,
    OptimizedImage,
    OptimizeOptions,
    OptimizeResult,
    optimize_isolated,
)
from services.processor.jobs import complete_job, count_transition, fail_job
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
        effort=options.effort or "balanced",
        enlarge=options.enlarge,
    )


@dataclass
class Outcome:
    """What the slow part produced, for the handler to record in one transaction."""

    job: Job
    result: OptimizeResult | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    ms: int = 0
    error: tuple[str, str] | None = None


@dataclass
class Worker:
    db: Database
    blobs: BlobStore
    outbox: Outbox
    limits: Limits
    max_attempts: int

    def subscriptions(self) -> list[Subscription]:
        return [
            Subscription(
                "job.submitted", events_pb2.JobSubmitted, self.record, prepare=self.optimize
            )
        ]

    def _claim(self, job_id: str) -> Job | None:
        """Mark the job processing in its own short transaction, so users see progress."""
        with self.db.session() as s:
            job = s.get(Job, job_id, with_for_update=True)
            if job is None or job.status not in _STARTABLE:
                return None
            count_transition(s, job.status, "processing")
            job.status = "processing"
            job.attempts += 1
            job.updated_at = utcnow()
            s.flush()
            s.expunge(job)
            return job

    def optimize(self, ctx: HandlerContext) -> Outcome | None:
        """The slow part, outside any transaction: fetch, optimize, store the outputs."""
        event: events_pb2.JobSubmitted = ctx.payload  # type: ignore[assignment]
        with bound_context(job_id=event.job_id):
            job = self._claim(event.job_id)
            if job is None:
                log.info("job_skipped", reason="not_startable")
                return None
            started = time.perf_counter()
            try:
                with tracing.span("fetch_input"):
                    data = self.blobs.get(job.input_key, owner=job.owner_id)
                with tracing.span("optimize", attributes={"picopt.bytes_in": len(data)}):
                    result = optimize_isolated(data, engine_options(event.options), self.limits)
                with tracing.span("store_outputs"):
                    outputs = [self._store(job, i, out) for i, out in enumerate(result.outputs)]
            except BlobNotFound:
                return Outcome(job, error=("input_gone", "the upload no longer exists"))
            except EngineInterrupted:
                raise  # the engine stopped under the job: another attempt, not a failure
            except EngineError as err:
                return Outcome(job, error=(err.code, err.message))
            except Exception as exc:
                # A storage outage is waited out (the consumer retries it without counting
                # an attempt); only the last attempt of a real failure fails the job.
                if ctx.attempt < self.max_attempts or is_transient(exc):
                    raise
                log.exception("job_crashed")
                return Outcome(
                    job, error=("internal_error", "processing failed; credits were released")
                )
            ms = int((time.perf_counter() - started) * 1000)
            return Outcome(job, result=result, outputs=outputs, ms=ms)

    def _store(self, job: Job, index: int, output: OptimizedImage) -> dict[str, Any]:
        key = f"results/{job.id}/{index}"
        self.blobs.put(key, output.data, owner=job.owner_id, deadline=job.expires_at)
        return {
            "blob_key": key,
            "format": output.format,
            "bytes": len(output.data),
            "width": output.width,
            "height": output.height,
            "larger_reason": output.larger_reason or "",
        }

    def record(self, ctx: HandlerContext) -> None:
        """Record the outcome and its event atomically; a job finished elsewhere is left alone."""
        outcome: Outcome | None = ctx.prepared
        if outcome is None:
            return
        assert ctx.session is not None
        s = ctx.session
        with bound_context(job_id=outcome.job.id):
            row = s.get(Job, outcome.job.id, with_for_update=True)
            if row is None or row.status != "processing":
                log.info("job_skipped", reason="finished_elsewhere")
                return
            if outcome.error is not None:
                fail_job(self.outbox, s, row, *outcome.error)
                return
            assert outcome.result is not None
            self._apply(row, outcome)
            metrics.after_commit(s, lambda: self._measure(outcome))
            if ctx.payload.options.metadata:  # type: ignore[attr-defined]
                count_transition(s, row.status, "analyzing")
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
                        vision_provider=ctx.payload.options.vision_provider,  # type: ignore[attr-defined]
                        language=ctx.payload.options.language,  # type: ignore[attr-defined]
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

    @staticmethod
    def _measure(outcome: Outcome) -> None:
        """Processing time by output format and bytes through, for a recorded result."""
        result = outcome.result
        assert result is not None
        metrics.PROCESSING_SECONDS.labels(result.main.format).observe(outcome.ms / 1000)
        metrics.IMAGE_BYTES.labels("in").inc(outcome.job.input_bytes or 0)
        metrics.IMAGE_BYTES.labels("out").inc(len(result.main.data))

    @staticmethod
    def _apply(row: Job, outcome: Outcome) -> None:
        result = outcome.result
        assert result is not None
        main = result.main
        row.input_format = result.format_in
        row.input_width, row.input_height = result.width_in, result.height_in
        row.output_format, row.output_bytes = main.format, len(main.data)
        row.output_width, row.output_height = main.width, main.height
        row.ssimulacra2 = main.ssimulacra2 or 0.0
        row.no_gain = main.no_gain
        row.blurhash, row.lqip = result.blurhash or "", result.lqip or ""
        row.result_key = outcome.outputs[0]["blob_key"]
        row.outputs = outcome.outputs
        row.processing_ms = outcome.ms
        row.updated_at = utcnow()
