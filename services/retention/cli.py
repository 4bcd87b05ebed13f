"""Compliance staff command line: `python -m services.retention.cli <command>`.

Talks to the retention gRPC API (RETENTION_ADDR) with the staff token
(RETENTION_STAFF_TOKEN, else var/retention-staff.token on a one-machine run).
Every command prints a table, or JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from picopt.kernel.errors import AppError
from picopt.kernel.grpc_client import service_channel
from picopt.kernel.settings import Settings
from picopt.retention.v1 import retention_pb2, retention_pb2_grpc
from services.retention import compliance
from services.retention.policies import DEFAULT_POLICY_FILE, parse_policy
from services.retention.staff import staff_metadata, staff_token


def _ts(ts: Any) -> str:
    if not ts.seconds and not ts.nanos:
        return "-"
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in headers], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _requests_table(requests: Sequence[retention_pb2.PrivacyRequest]) -> str:
    return table(
        ["id", "user", "kind", "status", "created", "deadline", "overdue", "waiting for"],
        [
            [
                r.id,
                r.user_id,
                r.kind,
                r.status,
                _ts(r.created_at),
                _ts(r.deadline),
                "OVERDUE" if r.overdue else "",
                ",".join(r.pending_services),
            ]
            for r in requests
        ],
    )


def render_report(reply: retention_pb2.GetReportResponse) -> str:
    age = reply.oldest_object_age_seconds
    parts = [
        table(
            ["measure", "value"],
            [
                ["stored objects", reply.tracked_objects],
                ["oldest stored image age", f"{age} s ({age / 3600:.1f} h)"],
                ["last sweep", _ts(reply.last_sweep_at)],
                ["open requests", reply.open_requests],
                ["overdue requests", len(reply.overdue_requests)],
            ],
        ),
        "",
        "images deleted per reason",
        table(["reason", "count"], [[d.reason, d.count] for d in reply.deletions]),
        "",
        "log purges",
        table(
            ["service", "table", "rows purged", "last report"],
            [[p.service, p.table, p.count, _ts(p.purged_at)] for p in reply.log_purges],
        ),
    ]
    if reply.overdue_requests:
        parts += ["", "overdue requests", _requests_table(reply.overdue_requests)]
    return "\n".join(parts)


def compliance_report(stub: Any, md: Any, args: Any, var_dir: Path) -> tuple[Any, str]:
    """Evidence from retention, tests from the last JUnit report, promises from the policy."""
    evidence = stub.GetComplianceEvidence(
        retention_pb2.GetComplianceEvidenceRequest(), metadata=md, timeout=120
    )
    tests = args.tests or var_dir / "reports" / "pytest.xml"
    doc = compliance.build(
        evidence,
        args.policy.read_text(encoding="utf-8"),
        compliance.read_test_report(tests),
        str(tests) if tests.is_file() else f"{tests} (missing: every test shows as not run)",
    )
    written = compliance.write(doc, args.out or var_dir / "reports")
    return doc, compliance.to_markdown(doc) + "\n\nWritten: " + ", ".join(map(str, written))


def run(argv: Sequence[str], stub: Any, token: str, var_dir: Path = Path("var")) -> tuple[Any, str]:
    """Execute one command; returns (reply message, table text)."""
    parser = argparse.ArgumentParser(prog="python -m services.retention.cli")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("requests", help="list data-subject requests with deadlines and status")
    ls.add_argument("--status", default="", choices=["", "open", "completed"])
    ls.add_argument("--user", default="")
    show = sub.add_parser("request", help="one request with its audit trail")
    show.add_argument("id")
    for kind in ("erase", "export", "correction"):
        p = sub.add_parser(kind, help=f"open a{'n' if kind[0] == 'e' else ''} {kind} request")
        p.add_argument("user_id")
    done = sub.add_parser("complete", help="close a correction request")
    done.add_argument("id")
    sub.add_parser("sweep", help="run the backstop sweep now")
    rep = sub.add_parser("report", help="retention report, or (--compliance) the audit report")
    rep.add_argument(
        "--compliance",
        action="store_true",
        help="every promise of the policy with its mechanism, settings, tests and live evidence",
    )
    rep.add_argument("--out", type=Path, default=None, help="directory of the report files")
    rep.add_argument("--tests", type=Path, default=None, help="JUnit XML of the last test run")
    rep.add_argument("--policy", type=Path, default=DEFAULT_POLICY_FILE, help="the policy text")
    sub.add_parser("purge-logs", help="order every service to purge old logs now")
    sub.add_parser("rotate-keys", help="re-wrap every object under the current master key")
    pub = sub.add_parser("publish-policy", help="publish a policy file (front matter + text)")
    pub.add_argument("file", type=Path)
    sub.add_parser("policies", help="published versions and mail fan-out progress")
    find = sub.add_parser("find-user", help="the account registered under an email address")
    find.add_argument("email")
    deliver = sub.add_parser("deliver-export", help="mail a ready export to its user")
    deliver.add_argument("id", help="the export request's id")
    args = parser.parse_args(argv)
    md = staff_metadata(token)
    cmd = args.command
    if cmd == "requests":
        r = stub.ListRequests(
            retention_pb2.ListRequestsRequest(status=args.status, user_id=args.user), metadata=md
        )
        return r, _requests_table(r.requests)
    if cmd == "request":
        r = stub.GetRequest(retention_pb2.GetRequestRequest(id=args.id), metadata=md)
        trail = table(
            ["at", "action", "service", "detail"],
            [[_ts(a.at), a.action, a.service, a.detail] for a in r.audit],
        )
        return r, _requests_table([r.request]) + "\n\n" + trail
    if cmd in ("erase", "export", "correction"):
        kind = {"erase": "erasure"}.get(cmd, cmd)
        r = stub.OpenRequest(
            retention_pb2.OpenRequestRequest(user_id=args.user_id, kind=kind), metadata=md
        )
        return r, _requests_table([r.request])
    if cmd == "complete":
        r = stub.CompleteRequest(retention_pb2.CompleteRequestRequest(id=args.id), metadata=md)
        return r, _requests_table([r.request])
    if cmd == "sweep":
        r = stub.RunSweep(retention_pb2.RunSweepRequest(), metadata=md)
        return r, table(["deleted", "orphans"], [[r.deleted, r.orphans]])
    if cmd == "report" and args.compliance:
        return compliance_report(stub, md, args, var_dir)
    if cmd == "report":
        r = stub.GetReport(retention_pb2.GetReportRequest(), metadata=md)
        return r, render_report(r)
    if cmd == "purge-logs":
        r = stub.PurgeLogs(retention_pb2.PurgeLogsRequest(), metadata=md)
        return r, table(["request", "older than"], [[r.request_id, _ts(r.older_than)]])
    if cmd == "rotate-keys":
        r = stub.RotateKeys(retention_pb2.RotateKeysRequest(), metadata=md, timeout=3600)
        summary = table(
            ["rewrapped", "already current", "failed", "current key"],
            [[r.rewrapped, r.already_current, r.failed, r.current_key_id]],
        )
        return r, summary + "\n\n" + table(
            ["key id", "objects"], [[k.key_id, k.count] for k in r.keys]
        )
    if cmd == "publish-policy":
        doc = parse_policy(args.file.read_text(encoding="utf-8"))
        r = stub.PublishPolicy(
            retention_pb2.PublishPolicyRequest(
                version=doc.version,
                effective_date=doc.effective_date,
                text=doc.text,
                material=doc.material,
            ),
            metadata=md,
        )
        return r, _policies_table([r.policy])
    if cmd == "find-user":
        r = stub.FindUser(retention_pb2.FindUserRequest(email=args.email), metadata=md)
        account = table(
            ["user", "name", "created", "confirmed", "disabled"],
            [
                [
                    r.user_id,
                    r.name,
                    _ts(r.created_at),
                    "yes" if r.email_confirmed else "no",
                    "yes" if r.disabled else "no",
                ]
            ],
        )
        return r, account + "\n\n" + _requests_table(r.requests)
    if cmd == "deliver-export":
        r = stub.DeliverExport(retention_pb2.DeliverExportRequest(request_id=args.id), metadata=md)
        how = "attached" if r.attached else "linked (too large to attach)"
        return r, table(
            ["request", "archive bytes", "mailed"], [[r.request_id, r.archive_bytes, how]]
        )
    r = stub.ListPolicies(retention_pb2.ListPoliciesRequest(), metadata=md)
    return r, _policies_table(r.policies)


def _policies_table(policies: Sequence[retention_pb2.Policy]) -> str:
    return table(
        ["version", "date", "material", "published", "mailed", "fan-out"],
        [
            [
                p.version,
                p.effective_date,
                "yes" if p.material else "no",
                _ts(p.published_at),
                p.notified,
                "done" if p.notification_done else "in progress",
            ]
            for p in policies
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = Settings.load("retention")
    channel = service_channel(settings, "retention")
    stub = retention_pb2_grpc.RetentionServiceStub(channel)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        reply, text = run(args, stub, staff_token(settings), settings.var_dir)
    except grpc.RpcError as err:
        print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    except AppError as err:  # a bad policy file
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    if "--json" in args:
        document = (
            reply
            if isinstance(reply, dict)
            else MessageToDict(reply, preserving_proto_field_name=True)
        )
        print(json.dumps(document, indent=2))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
