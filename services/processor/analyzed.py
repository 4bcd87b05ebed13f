"""Processor's handler for `job.analyzed`: attach the metadata and complete the job."""

from __future__ import annotations

from dataclasses import dataclass

from picopt.events.v1 import events_pb2
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import HandlerContext, Outbox, Subscription
from services.processor.jobs import complete_job
from services.processor.models import Job

log = get_logger(__name__)


@dataclass
class AnalyzedHandler:
    outbox: Outbox

    def subscriptions(self) -> list[Subscription]:
        return [Subscription("job.analyzed", events_pb2.JobAnalyzed, self.on_analyzed)]

    def on_analyzed(self, ctx: HandlerContext) -> None:
        assert ctx.session is not None
        event: events_pb2.JobAnalyzed = ctx.payload  # type: ignore[assignment]
        job = ctx.session.get(Job, event.job_id, with_for_update=True)
        if job is None or job.status != "analyzing":
            log.info("analysis_ignored", job_id=event.job_id, status=job.status if job else None)
            return
        job.metadata_pb = event.metadata.SerializeToString()
        complete_job(self.outbox, ctx.session, job)
