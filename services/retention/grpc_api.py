"""gRPC entry points of retention: the staff compliance surface and the user-facing privacy API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from picopt.kernel.protos import to_timestamp
from picopt.retention.v1 import retention_pb2, retention_pb2_grpc
from services.retention.deleter import Deleter
from services.retention.delivery import Delivery
from services.retention.evidence import ComplianceEvidence
from services.retention.exports import Exports, ExportView
from services.retention.keys import rotate_keys
from services.retention.logpurge import LogPurges
from services.retention.models import PolicyVersion
from services.retention.policies import Policies, validated
from services.retention.policy import RetentionPolicy
from services.retention.requests import Requests, RequestView
from services.retention.sessions import Sessions, SessionView
from services.retention.staff import require_staff


@dataclass
class Retention:
    """Everything the two servicers drive."""

    deleter: Deleter
    requests: Requests
    exports: Exports
    log_purges: LogPurges
    policies: Policies
    current_key_id: str
    delivery: Delivery
    evidence: ComplianceEvidence


def request_message(view: RequestView) -> retention_pb2.PrivacyRequest:
    r = view.request
    return retention_pb2.PrivacyRequest(
        id=r.id,
        user_id=r.user_id,
        kind=r.kind,
        status=r.status,
        created_at=to_timestamp(r.created_at),
        deadline=to_timestamp(r.deadline),
        completed_at=to_timestamp(r.completed_at),
        overdue=r.overdue_at is not None,
        pending_services=list(view.pending_services),
    )


def session_message(view: SessionView) -> retention_pb2.ProcessingSession:
    return retention_pb2.ProcessingSession(
        id=view.id,
        status=view.status,
        created_at=to_timestamp(view.created_at),
        expires_at=to_timestamp(view.expires_at),
        ended_at=to_timestamp(view.ended_at),
        images_deleted=view.images_deleted,
    )


def policy_message(
    policies: Policies, p: PolicyVersion, with_text: bool = True, current: str = ""
) -> retention_pb2.Policy:
    effective = policies.takes_effect(p)
    return retention_pb2.Policy(
        version=p.version,
        # A material version whose fan-out has not ended has no later date yet than its own.
        effective_date=p.effective_date if effective == date.max else effective.isoformat(),
        text=p.text if with_text else "",
        material=p.material,
        published_at=to_timestamp(p.published_at),
        notified=p.notified,
        notification_done=p.notification_done_at is not None,
        in_effect=p.version == current,
    )


class RetentionServicer(retention_pb2_grpc.RetentionServiceServicer):
    """Compliance staff only: every method checks the staff token first."""

    def __init__(self, retention: Retention, token: str) -> None:
        self.r = retention
        self.token = token

    def RunSweep(
        self, request: retention_pb2.RunSweepRequest, context: Any
    ) -> retention_pb2.RunSweepResponse:
        require_staff(context, self.token)
        deleted, orphans = self.r.deleter.sweep()
        return retention_pb2.RunSweepResponse(deleted=deleted, orphans=orphans)

    def GetReport(
        self, request: retention_pb2.GetReportRequest, context: Any
    ) -> retention_pb2.GetReportResponse:
        require_staff(context, self.token)
        report = self.r.deleter.report()
        return retention_pb2.GetReportResponse(
            tracked_objects=report["stored_objects"],  # type: ignore[arg-type]
            oldest_object_age_seconds=report["oldest_object_age_seconds"],  # type: ignore[arg-type]
            deletions=[
                retention_pb2.DeletionCount(reason=r, count=c)
                for r, c in sorted(report["deletions"].items())  # type: ignore[attr-defined]
            ],
            last_sweep_at=to_timestamp(report["last_sweep_at"]),  # type: ignore[arg-type]
            overdue_requests=[request_message(v) for v in self.r.requests.overdue()],
            log_purges=[
                retention_pb2.LogPurgeCount(
                    service=svc, table=table, count=count, purged_at=to_timestamp(at)
                )
                for svc, table, count, at in self.r.log_purges.totals()
            ],
            open_requests=len(self.r.requests.search(status="open")),
        )

    def ListRequests(
        self, request: retention_pb2.ListRequestsRequest, context: Any
    ) -> retention_pb2.ListRequestsResponse:
        require_staff(context, self.token)
        views = self.r.requests.search(status=request.status, user_id=request.user_id)
        return retention_pb2.ListRequestsResponse(requests=[request_message(v) for v in views])

    def GetRequest(
        self, request: retention_pb2.GetRequestRequest, context: Any
    ) -> retention_pb2.GetRequestResponse:
        require_staff(context, self.token)
        view, trail = self.r.requests.get(request.id)
        return retention_pb2.GetRequestResponse(
            request=request_message(view),
            audit=[
                retention_pb2.AuditEntry(
                    at=to_timestamp(a.at), action=a.action, service=a.service, detail=a.detail
                )
                for a in trail
            ],
        )

    def OpenRequest(
        self, request: retention_pb2.OpenRequestRequest, context: Any
    ) -> retention_pb2.OpenRequestResponse:
        require_staff(context, self.token)
        view = self.r.requests.open(request.user_id, request.kind, actor="staff")
        return retention_pb2.OpenRequestResponse(request=request_message(view))

    def CompleteRequest(
        self, request: retention_pb2.CompleteRequestRequest, context: Any
    ) -> retention_pb2.CompleteRequestResponse:
        require_staff(context, self.token)
        view = self.r.requests.complete(request.id, actor="staff")
        return retention_pb2.CompleteRequestResponse(request=request_message(view))

    def PurgeLogs(
        self, request: retention_pb2.PurgeLogsRequest, context: Any
    ) -> retention_pb2.PurgeLogsResponse:
        require_staff(context, self.token)
        request_id, older_than = self.r.log_purges.order()
        return retention_pb2.PurgeLogsResponse(
            request_id=request_id, older_than=to_timestamp(older_than)
        )

    def RotateKeys(
        self, request: retention_pb2.RotateKeysRequest, context: Any
    ) -> retention_pb2.RotateKeysResponse:
        require_staff(context, self.token)
        result = rotate_keys(self.r.deleter, self.r.current_key_id)
        return retention_pb2.RotateKeysResponse(
            rewrapped=result.rewrapped,
            already_current=result.already_current,
            failed=result.failed,
            current_key_id=result.current_key_id,
            keys=[
                retention_pb2.KeyCount(key_id=k, count=c) for k, c in sorted(result.keys.items())
            ],
        )

    def PublishPolicy(
        self, request: retention_pb2.PublishPolicyRequest, context: Any
    ) -> retention_pb2.PublishPolicyResponse:
        require_staff(context, self.token)
        doc = validated(request.version, request.effective_date, request.material, request.text)
        policies = self.r.policies
        published = policies.publish(doc)
        return retention_pb2.PublishPolicyResponse(
            policy=policy_message(policies, published, current=policies.current().version)
        )

    def ListPolicies(
        self, request: retention_pb2.ListPoliciesRequest, context: Any
    ) -> retention_pb2.ListPoliciesResponse:
        require_staff(context, self.token)
        policies = self.r.policies
        current = policies.current().version
        return retention_pb2.ListPoliciesResponse(
            policies=[
                policy_message(policies, p, with_text=False, current=current)
                for p in policies.all()
            ]
        )

    def DeliverExport(
        self, request: retention_pb2.DeliverExportRequest, context: Any
    ) -> retention_pb2.DeliverExportResponse:
        require_staff(context, self.token)
        delivered = self.r.delivery.deliver(request.request_id)
        return retention_pb2.DeliverExportResponse(
            request_id=request.request_id,
            attached=delivered.attached,
            archive_bytes=delivered.archive_bytes,
        )

    def FindUser(
        self, request: retention_pb2.FindUserRequest, context: Any
    ) -> retention_pb2.FindUserResponse:
        require_staff(context, self.token)
        found = self.r.delivery.find_user(request.email)
        account = found.account
        return retention_pb2.FindUserResponse(
            user_id=account.recipient.user_id,
            name=account.recipient.name,
            created_at=account.created_at,
            email_confirmed=account.email_confirmed,
            disabled=account.disabled,
            requests=[request_message(v) for v in found.requests],
        )

    def GetComplianceEvidence(
        self, request: retention_pb2.GetComplianceEvidenceRequest, context: Any
    ) -> retention_pb2.GetComplianceEvidenceResponse:
        require_staff(context, self.token)
        return self.r.evidence.collect()


def export_message(view: ExportView) -> retention_pb2.DataExport:
    return retention_pb2.DataExport(
        id=view.id,
        status=view.status,
        created_at=to_timestamp(view.created_at),
        expires_at=to_timestamp(view.expires_at),
    )


class PrivacyServicer(retention_pb2_grpc.PrivacyServiceServicer):
    """What the gateway asks on behalf of the signed-in user."""

    def __init__(self, retention: Retention, sessions: Sessions, policy: RetentionPolicy) -> None:
        self.r = retention
        self.sessions = sessions
        self.policy = policy

    def RequestErasure(
        self, request: retention_pb2.RequestErasureRequest, context: Any
    ) -> retention_pb2.RequestErasureResponse:
        view = self.r.requests.open(request.user_id, "erasure", actor="user")
        return retention_pb2.RequestErasureResponse(request=request_message(view))

    def RequestExport(
        self, request: retention_pb2.RequestExportRequest, context: Any
    ) -> retention_pb2.RequestExportResponse:
        view = self.r.requests.open(request.user_id, "export", actor="user")
        return retention_pb2.RequestExportResponse(request=request_message(view))

    def GetExport(
        self, request: retention_pb2.GetExportRequest, context: Any
    ) -> retention_pb2.GetExportResponse:
        status = self.r.exports.status(request.user_id, request.export_id)
        return retention_pb2.GetExportResponse(
            status=status.status,
            blob_key=status.blob_key,
            expires_at=to_timestamp(status.expires_at),
        )

    def ListExports(
        self, request: retention_pb2.ListExportsRequest, context: Any
    ) -> retention_pb2.ListExportsResponse:
        return retention_pb2.ListExportsResponse(
            exports=[export_message(v) for v in self.r.exports.list(request.user_id)]
        )

    def GetPolicy(
        self, request: retention_pb2.GetPolicyRequest, context: Any
    ) -> retention_pb2.GetPolicyResponse:
        policies = self.r.policies
        current = policies.current()
        shown = policies.get(request.version) if request.version else current
        return retention_pb2.GetPolicyResponse(
            policy=policy_message(policies, shown, current=current.version),
            upcoming=[
                policy_message(policies, p, current=current.version) for p in policies.upcoming()
            ],
            versions=[
                policy_message(policies, p, with_text=False, current=current.version)
                for p in policies.all()
            ],
        )

    def GetRetentionFacts(
        self, request: retention_pb2.GetRetentionFactsRequest, context: Any
    ) -> retention_pb2.GetRetentionFactsResponse:
        reply = retention_pb2.GetRetentionFactsResponse()
        p = self.policy
        reply.image_ttl.FromTimedelta(p.image_ttl)
        reply.download_grace.FromTimedelta(p.download_grace)
        reply.log_age.FromTimedelta(p.log_age)
        reply.erasure_deadline.FromTimedelta(p.erasure_deadline)
        reply.export_ttl.FromTimedelta(p.export_ttl)
        reply.session_ttl.FromTimedelta(p.session_ttl)
        reply.policy_notice.FromTimedelta(p.policy_notice)
        return reply

    def OpenSession(
        self, request: retention_pb2.OpenSessionRequest, context: Any
    ) -> retention_pb2.OpenSessionResponse:
        view = self.sessions.open(request.user_id, request.ttl_seconds)
        return retention_pb2.OpenSessionResponse(session=session_message(view))

    def GetSession(
        self, request: retention_pb2.GetSessionRequest, context: Any
    ) -> retention_pb2.GetSessionResponse:
        view = self.sessions.get(request.user_id, request.session_id)
        return retention_pb2.GetSessionResponse(session=session_message(view))

    def CloseSession(
        self, request: retention_pb2.CloseSessionRequest, context: Any
    ) -> retention_pb2.CloseSessionResponse:
        view = self.sessions.close(request.user_id, request.session_id)
        return retention_pb2.CloseSessionResponse(session=session_message(view))
