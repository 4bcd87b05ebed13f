"""What a job row may keep once its images are gone, and jobs that can never finish.

A job row holds a 16-px preview (LQIP), a BlurHash and the original file name:
image data and a name the user chose, which must not outlive the images' 24-hour
promise. They are forgotten when retention deletes a result (`result.deleted`),
when a job fails (its images are deleted at once) and, as a backstop needing no
events, once the job's deadline has passed.

A job still queued, processing or analyzing at its deadline can never finish (its
upload is gone by then): it fails with code `expired`, so billing releases its
credits and retention deletes whatever it stored; the log purge removes the row
later like any ended job.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database, utcnow
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import HandlerContext, Outbox, Subscription
from services.processor.jobs import fail_job, forget_image_traces
from services.processor.models import ACTIVE, Job

log = get_logger(__name__)

EXPIRED = "expired"
EXPIRED_MESSAGE = "the job did not finish before its images' deadline; credits were released"
BATCH = 500


@dataclass
class JobExpiry:
    db: Database
    outbox: Outbox

    def subscriptions(self) -> list[Subscription]:
        return [Subscription("result.deleted", events_pb2.ResultDeleted, self.on_result_deleted)]

    def on_result_deleted(self, ctx: HandlerContext) -> None:
        assert ctx.session is not None
        job = ctx.session.get(Job, ctx.payload.job_id, with_for_update=True)
        if job is not None and job.results_deleted_at is None:
            forget_image_traces(job)
            log.info("job_image_traces_forgotten", job_id=job.id, reason="result_deleted")

    def tick(self) -> tuple[int, int]:
        """Timer: fail jobs past their deadline, forget the image traces of every such job."""
        with self.db.session() as s:
            stuck = self._due(s, Job.status.in_(ACTIVE))
            for job in stuck:
                fail_job(self.outbox, s, job, EXPIRED, EXPIRED_MESSAGE)
            ended = self._due(s, Job.results_deleted_at.is_(None))
            for job in ended:
                forget_image_traces(job)
        if stuck or ended:
            log.info("jobs_expired", failed=len(stuck), image_traces_forgotten=len(ended))
        return len(stuck), len(ended)

    def _due(self, s: Session, condition: object) -> list[Job]:
        return list(
            s.scalars(
                select(Job)
                .where(condition, Job.expires_at <= utcnow())  # type: ignore[arg-type]
                .order_by(Job.expires_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        )
