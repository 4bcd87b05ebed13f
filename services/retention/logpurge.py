"""Ordering every service to purge logs older than RETENTION_LOG_DAYS, and keeping their counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database, utcnow
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import HandlerContext, Outbox, Subscription
from picopt.kernel.protos import to_timestamp
from services.retention.models import LogPurgeCount, LogPurgeRun
from services.retention.policy import RetentionPolicy

log = get_logger(__name__)


@dataclass
class LogPurges:
    db: Database
    outbox: Outbox
    policy: RetentionPolicy

    def order(self) -> tuple[str, datetime]:
        """Send logs.purge with the cutoff now minus the log retention."""
        request_id = str(uuid.uuid4())
        started = utcnow()
        older_than = started - self.policy.log_age
        with self.db.session() as s:
            s.add(LogPurgeRun(request_id=request_id, older_than=older_than, started_at=started))
            self.outbox.add(
                s,
                "logs.purge",
                events_pb2.LogsPurge(request_id=request_id, older_than=to_timestamp(older_than)),
            )
        log.info("logs_purge_ordered", request_id=request_id)
        return request_id, older_than

    def on_purged(self, ctx: HandlerContext) -> None:
        assert ctx.session is not None
        s, e = ctx.session, ctx.payload
        for table, count in e.counts.items():
            if s.get(LogPurgeCount, (e.request_id, e.service, table)) is None:
                s.add(
                    LogPurgeCount(
                        request_id=e.request_id,
                        service=e.service,
                        table_name=table,
                        count=int(count),
                        purged_at=utcnow(),
                    )
                )

    def totals(self) -> list[tuple[str, str, int, datetime]]:
        """Rows purged per service and table, with the last report's time."""
        with self.db.session(readonly=True) as s:
            rows = s.execute(
                select(
                    LogPurgeCount.service,
                    LogPurgeCount.table_name,
                    func.sum(LogPurgeCount.count),
                    func.max(LogPurgeCount.purged_at),
                )
                .group_by(LogPurgeCount.service, LogPurgeCount.table_name)
                .order_by(LogPurgeCount.service, LogPurgeCount.table_name)
            ).all()
        return [(svc, table, int(total or 0), at) for svc, table, total, at in rows]

    def subscriptions(self) -> list[Subscription]:
        return [Subscription("logs.purged", events_pb2.LogsPurged, self.on_purged)]
