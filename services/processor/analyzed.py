"""Processor's handler for `job.analyzed`: apply the safety policy, attach the metadata, finish.

Vision decides (`safety_action`); the processor, which owns the results, acts on it. The slow
part (blurring each output in the blob store) runs in `prepare`, outside any transaction; the
job then ends in one transaction with its event: `job.completed`, or `job.failed` with code
`content_policy` and the job's output keys, so billing releases the credits and retention
deletes the upload and the refused results and records each deletion in its audit log. The
results of a refused job are never served meanwhile: the gateway serves only done jobs. A
redelivery after the job ended changes nothing; one between the blur and the commit blurs an
already blurred copy again, which only adds blur.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from picopt.events.v1 import events_pb2
from picopt.kernel.blobstore import BlobNotFound, BlobStore
from picopt.kernel.db import Database
from picopt.kernel.logs import bound_context, get_logger
from picopt.kernel.messaging import HandlerContext, Outbox, Subscription, is_transient
from services.processor.jobs import complete_job, fail_job
from services.processor.models import Job

log = get_logger(__name__)

CONTENT_POLICY = "content_policy"
REFUSED_MESSAGE = "the image was refused by this service's content policy; credits were released"


@dataclass(frozen=True)
class Enforced:
    """What `enforce` did: the action taken and the new size of each blurred output."""

    action: str = ""
    sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class AnalyzedHandler:
    outbox: Outbox
    db: Database
    blobs: BlobStore
    # The consumer's default; the last attempt refuses instead of serving an unblurred image.
    max_attempts: int = 5

    def subscriptions(self) -> list[Subscription]:
        return [
            Subscription(
                "job.analyzed", events_pb2.JobAnalyzed, self.on_analyzed, prepare=self.enforce
            )
        ]

    def enforce(self, ctx: HandlerContext) -> Enforced:
        """Blur the job's results, or decide to refuse the job, as the policy asks."""
        event: events_pb2.JobAnalyzed = ctx.payload  # type: ignore[assignment]
        if event.safety_action not in ("blur", "refuse"):
            return Enforced()
        with self.db.session() as s:
            job = s.get(Job, event.job_id)
            if job is None or job.status != "analyzing":
                return Enforced()
            outputs = {o["blob_key"]: o["format"] for o in job.outputs or []}
            outputs = outputs or {job.result_key: job.output_format}
            keys = list(outputs)
            owner, deadline = job.owner_id, job.expires_at
        with bound_context(job_id=event.job_id):
            if event.safety_action == "blur":
                try:
                    sizes = {k: self._blur(k, f, owner, deadline) for k, f in outputs.items()}
                    log.info("results_blurred", outputs=len(keys))
                    return Enforced("blur", sizes)
                except Exception as exc:
                    if ctx.attempt < self.max_attempts or is_transient(exc):
                        raise
                    log.exception("results_blur_failed")
            log.info("results_refused", outputs=len(keys))
            return Enforced("refuse")

    def _blur(self, key: str, fmt: str, owner: str, deadline: datetime) -> int:
        """Replace the object with its blurred copy; returns the new size (0 if it is gone)."""
        try:
            data = self.blobs.get(key, owner=owner)
        except BlobNotFound:
            return 0  # already gone (expired or erased): nothing left to show
        # The codecs (Pillow, libvips, OpenCV) load only when a blur is needed: the processor
        # API and the worker processes stay light otherwise.
        from services.processor.blurring import blurred_copy

        blurred = blurred_copy(data, fmt)
        self.blobs.put(key, blurred, owner=owner, deadline=deadline)
        return len(blurred)

    def on_analyzed(self, ctx: HandlerContext) -> None:
        assert ctx.session is not None
        event: events_pb2.JobAnalyzed = ctx.payload  # type: ignore[assignment]
        job = ctx.session.get(Job, event.job_id, with_for_update=True)
        if job is None or job.status != "analyzing":
            log.info("analysis_ignored", job_id=event.job_id, status=job.status if job else None)
            return
        job.metadata_pb = event.metadata.SerializeToString()
        enforced: Enforced = ctx.prepared or Enforced()
        if enforced.action == "refuse":
            fail_job(self.outbox, ctx.session, job, CONTENT_POLICY, REFUSED_MESSAGE)
            return
        if enforced.sizes:
            _record_sizes(job, enforced.sizes)
        complete_job(self.outbox, ctx.session, job)


def _record_sizes(job: Job, sizes: dict[str, int]) -> None:
    """The job reports the bytes of what will be downloaded: the blurred copies."""
    job.outputs = [
        {**o, "bytes": sizes.get(o["blob_key"]) or o["bytes"]} for o in job.outputs or []
    ]
    job.output_bytes = sizes.get(job.result_key) or job.output_bytes
