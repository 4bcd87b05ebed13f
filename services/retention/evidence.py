"""Live evidence for the compliance report, read from the running system by retention.

What an auditor needs beside the tests: the settings in force, the oldest image
still stored, the last sweep, open and overdue requests, the last erasure and how
long it took, every dead-letter queue's depth and oldest message, and each
service's last confirmed log purge. Nothing here names a person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from picopt.kernel.db import Database, as_utc, utcnow
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging.deadletters import QueueDepth, dead_letter_depths
from picopt.kernel.protos import to_timestamp
from picopt.retention.v1 import retention_pb2
from services.retention.deleter import Deleter
from services.retention.models import DeletionRecord, LogPurgeCount, LogPurgeRun, PrivacyRequest
from services.retention.policies import Policies
from services.retention.policy import RetentionPolicy
from services.retention.requests import COMPLETED, Requests

log = get_logger(__name__)

# Settings behind the promises that retention does not parse itself (other services read
# them from the same configuration); shown as set, or "default".
SHARED_SETTINGS = (
    "PROCESSOR_EXPIRY_INTERVAL",
    "MAIL_TRANSPORT",
    "MAIL_FILE_TTL_S",
    "EVENT_DLQ_TTL_S",
    "EVENT_DLQ_IMAGE_TTL_S",
    "VISION_PROVIDER",
    "VISION_ALLOWED_PROVIDERS",
    "SESSION_COOKIE_SECURE",
    "GRPC_TLS_CERT",
    "RETENTION_NOTIFY_BATCH",
    "RETENTION_NOTIFY_INTERVAL",
    "RETENTION_EXPORT_MAIL_MAX_BYTES",
)


def effective_settings(policy: RetentionPolicy, env: Mapping[str, str]) -> dict[str, str]:
    """Retention's own settings as enforced, the shared ones as configured."""
    own = {
        "RETENTION_IMAGE_TTL": f"{policy.image_ttl.total_seconds():g} s",
        "RETENTION_DOWNLOAD_GRACE": f"{policy.download_grace.total_seconds():g} s",
        "RETENTION_SWEEP_INTERVAL": f"{policy.sweep_interval:g} s",
        "RETENTION_ORPHAN_GRACE": f"{policy.orphan_grace.total_seconds():g} s",
        "RETENTION_SESSION_TTL": f"{policy.session_ttl.total_seconds():g} s",
        "RETENTION_LOG_DAYS": f"{policy.log_age.total_seconds() / 86_400:g} days",
        "RETENTION_LOG_PURGE_INTERVAL": f"{policy.log_purge_interval:g} s",
        "RETENTION_ERASURE_DAYS": f"{policy.erasure_deadline.total_seconds() / 86_400:g} days",
        "RETENTION_OVERDUE_AFTER": f"{policy.overdue_after.total_seconds():g} s",
        "RETENTION_ERASURE_RETRY": f"{policy.erasure_retry.total_seconds():g} s",
        "RETENTION_ERASURE_SERVICES": ",".join(policy.erasure_services),
        "RETENTION_EXPORTERS": ",".join(policy.exporters),
        "RETENTION_EXPORT_TTL": f"{policy.export_ttl.total_seconds():g} s",
        "POLICY_NOTICE_DAYS": f"{policy.policy_notice.days} days",
    }
    shared = {name: env.get(name) or "default" for name in SHARED_SETTINGS}
    # Where a file lives is configuration, not a secret; only whether TLS is on matters.
    shared["GRPC_TLS_CERT"] = "set (mTLS on)" if env.get("GRPC_TLS_CERT") else "unset (mTLS off)"
    return {**own, **shared}


@dataclass
class ComplianceEvidence:
    db: Database
    deleter: Deleter
    requests: Requests
    policies: Policies
    policy: RetentionPolicy
    env: Mapping[str, str]
    amqp_url: str
    master_key_id: str
    dead_letters: Callable[[str, Mapping[str, str]], list[QueueDepth]] = field(
        default=dead_letter_depths
    )

    def collect(self) -> retention_pb2.GetComplianceEvidenceResponse:
        report = self.deleter.report()
        open_requests = self.requests.search(status="open")
        reply = retention_pb2.GetComplianceEvidenceResponse(
            generated_at=to_timestamp(utcnow()),
            settings=effective_settings(self.policy, self.env),
            stored_objects=int(report["stored_objects"]),  # type: ignore[call-overload]
            oldest_object_age_seconds=int(report["oldest_object_age_seconds"]),  # type: ignore[call-overload]
            last_sweep_at=to_timestamp(report["last_sweep_at"]),  # type: ignore[arg-type]
            open_requests=len(open_requests),
            overdue_requests=sum(1 for v in open_requests if v.request.overdue_at is not None),
            master_key_id=self.master_key_id,
        )
        self._erasure(reply)
        self._logs(reply)
        self._policy(reply)
        self._dead_letter_queues(reply)
        return reply

    def _erasure(self, reply: Any) -> None:
        with self.db.session(readonly=True) as s:
            last = s.scalar(
                select(PrivacyRequest)
                .where(PrivacyRequest.kind == "erasure", PrivacyRequest.status == COMPLETED)
                .order_by(PrivacyRequest.completed_at.desc())
                .limit(1)
            )
            if last is not None and last.completed_at is not None:
                reply.last_erasure_id = last.id
                reply.last_erasure_completed_at.CopyFrom(to_timestamp(last.completed_at))
                took = as_utc(last.completed_at) - as_utc(last.created_at)
                reply.last_erasure_seconds = took.total_seconds()

    def _logs(self, reply: Any) -> None:
        with self.db.session(readonly=True) as s:
            oldest = s.scalar(select(func.min(DeletionRecord.deleted_at)))
            if oldest is not None:
                reply.oldest_log_row_at.CopyFrom(to_timestamp(oldest))
            latest = (
                select(LogPurgeCount.service, func.max(LogPurgeCount.purged_at).label("at"))
                .group_by(LogPurgeCount.service)
                .subquery()
            )
            rows = s.execute(
                select(
                    LogPurgeCount.service,
                    LogPurgeCount.purged_at,
                    LogPurgeRun.older_than,
                    func.sum(LogPurgeCount.count),
                )
                .join(
                    latest,
                    (latest.c.service == LogPurgeCount.service)
                    & (latest.c.at == LogPurgeCount.purged_at),
                )
                .join(LogPurgeRun, LogPurgeRun.request_id == LogPurgeCount.request_id)
                .group_by(LogPurgeCount.service, LogPurgeCount.purged_at, LogPurgeRun.older_than)
                .order_by(LogPurgeCount.service)
            ).all()
        for service, at, older_than, rows_purged in rows:
            reply.log_purges.add(
                service=service,
                confirmed_at=to_timestamp(at),
                older_than=to_timestamp(older_than),
                rows_purged=int(rows_purged or 0),
            )

    def _policy(self, reply: Any) -> None:
        try:
            reply.policy_version = self.policies.current().version
            reply.upcoming_policy_versions.extend(p.version for p in self.policies.upcoming())
        except Exception:
            log.exception("compliance_policy_unreadable")

    def _dead_letter_queues(self, reply: Any) -> None:
        try:
            depths = self.dead_letters(self.amqp_url, self.env)
        except Exception as exc:
            reply.dead_letters_error = f"the broker could not be read ({type(exc).__name__})"
            log.warning("compliance_dead_letters_unreadable", error=type(exc).__name__)
            return
        for d in depths:
            age = d.oldest_age_s if d.oldest_age_s is not None else -1.0
            reply.dead_letter_queues.add(queue=d.queue, depth=d.depth, oldest_age_seconds=age)
