"""Run retention: `python -m services.retention` (service) or `... sweep` (once, for a CronJob)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from picopt.kernel import metrics
from picopt.kernel.mailer import Mailer
from picopt.kernel.messaging import Outbox
from picopt.kernel.privacy import PrivacyParticipant
from picopt.kernel.protos import service_name
from picopt.kernel.runtime import ServiceApp
from picopt.kernel.settings import SettingsError
from picopt.privacy.v1 import privacy_pb2_grpc
from picopt.retention.v1 import retention_pb2, retention_pb2_grpc
from services.retention.deleter import Deleter
from services.retention.delivery import DEFAULT_MAIL_MAX_BYTES, Delivery
from services.retention.erasure import RetentionData, export_own_part
from services.retention.evidence import ComplianceEvidence
from services.retention.exports import Exports
from services.retention.grpc_api import PrivacyServicer, Retention, RetentionServicer
from services.retention.logpurge import LogPurges
from services.retention.policies import DEFAULT_POLICY_FILE, Policies
from services.retention.policy import RetentionPolicy
from services.retention.requests import Requests
from services.retention.sessions import Sessions
from services.retention.staff import staff_token

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.retention")
    parser.add_argument("role", choices=["serve", "sweep"], nargs="?", default="serve")
    args = parser.parse_args()
    app = ServiceApp("retention")
    env = app.settings.env
    try:
        policy = RetentionPolicy.from_env(env)
    except SettingsError as err:
        sys.exit(f"retention: refusing to start: {err}")
    db = app.database(MIGRATIONS)
    deleter = Deleter(db, app.blobs(), policy)
    if args.role == "sweep":
        deleted, orphans = deleter.sweep()
        print(json.dumps({"deleted": deleted, "orphans": orphans}))
        return
    outbox = Outbox("retention")
    requests = Requests(db, outbox, policy)
    log_purges = LogPurges(db, outbox, policy)
    mailer = Mailer.from_settings(app.settings)
    recipients = privacy_pb2_grpc.RecipientServiceStub(app.channel("auth"))
    public_url = env.str("PUBLIC_URL", "http://127.0.0.1:8080")
    policies = Policies(
        db,
        mailer,
        recipients,
        batch_size=env.int("RETENTION_NOTIFY_BATCH", 100),
        public_url=public_url,
        notice=policy.policy_notice,
    )
    policies.bootstrap(Path(env.str("PRIVACY_POLICY_FILE", str(DEFAULT_POLICY_FILE))))
    sessions = Sessions(db, deleter, policy)
    own = RetentionData(deleter, sessions)
    # Retention builds the archive: its own part is read in the build's transaction.
    participant = PrivacyParticipant("retention", outbox, own.erase, own.purge, lambda _: ())
    exports = Exports(
        db,
        app.blobs(),
        policy,
        {s: privacy_pb2_grpc.DataSubjectServiceStub(app.channel(s)) for s in policy.exporters},
        own_parts=export_own_part,
    )
    delivery = Delivery(
        db,
        app.blobs(),
        exports,
        requests,
        mailer,
        recipients,
        public_url=public_url,
        max_attached_bytes=env.int("RETENTION_EXPORT_MAIL_MAX_BYTES", DEFAULT_MAIL_MAX_BYTES),
    )
    key_id = app.settings.master_keys().current_id
    evidence = ComplianceEvidence(
        db, deleter, requests, policies, policy, env.env, app.settings.amqp_url, key_id
    )
    retention = Retention(
        deleter, requests, exports, log_purges, policies, key_id, delivery, evidence
    )

    server = app.grpc_server()
    server.add(
        retention_pb2_grpc.add_RetentionServiceServicer_to_server,
        RetentionServicer(retention, staff_token(app.settings)),
        [service_name(retention_pb2.DESCRIPTOR, "RetentionService")],
    )
    server.add(
        retention_pb2_grpc.add_PrivacyServiceServicer_to_server,
        PrivacyServicer(retention, sessions, policy),
        [service_name(retention_pb2.DESCRIPTOR, "PrivacyService")],
    )
    app.consume(
        [
            *deleter.subscriptions(),
            *requests.subscriptions(),
            *log_purges.subscriptions(),
            *participant.subscriptions(),
        ],
        db=db,
    )
    app.outbox_relay(db)
    app.every("delete_due", policy.due_interval, deleter.delete_due)
    app.every("sweep", policy.sweep_interval, deleter.sweep)
    app.every("mail_files", policy.sweep_interval, mailer.prune)
    app.every("sessions", policy.due_interval, sessions.expire_due)
    app.every("requests", env.float("RETENTION_REQUEST_CHECK_INTERVAL", 60.0), requests.tick)
    app.every(
        "overdue_gauge",
        env.float("RETENTION_REQUEST_CHECK_INTERVAL", 60.0),
        lambda: metrics.PRIVACY_OVERDUE.set(len(requests.overdue())),
    )
    app.every("exports", env.float("RETENTION_EXPORT_INTERVAL", 2.0), exports.build_pending)
    app.every("exports_expire", policy.due_interval, exports.expire)
    app.every("log_purge", policy.log_purge_interval, log_purges.order)
    app.every("policy_notify", env.float("RETENTION_NOTIFY_INTERVAL", 5.0), policies.notify_batch)
    app.run()


if __name__ == "__main__":
    main()
