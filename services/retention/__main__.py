"""Run retention: `python -m services.retention` (service) or `... sweep` (once, for a CronJob)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from picopt.kernel.protos import service_name
from picopt.kernel.runtime import ServiceApp
from picopt.retention.v1 import retention_pb2, retention_pb2_grpc
from services.retention.deleter import Deleter
from services.retention.grpc_api import RetentionServicer
from services.retention.policy import RetentionPolicy

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.retention")
    parser.add_argument("role", choices=["serve", "sweep"], nargs="?", default="serve")
    args = parser.parse_args()
    app = ServiceApp("retention")
    policy = RetentionPolicy.from_env(app.settings.env)
    db = app.database(MIGRATIONS)
    deleter = Deleter(db, app.blobs(), policy)
    if args.role == "sweep":
        deleted, orphans = deleter.sweep()
        print(json.dumps({"deleted": deleted, "orphans": orphans}))
        return
    app.grpc_server().add(
        retention_pb2_grpc.add_RetentionServiceServicer_to_server,
        RetentionServicer(deleter),
        [service_name(retention_pb2.DESCRIPTOR, "RetentionService")],
    )
    app.consume(deleter.subscriptions(), db=db)
    app.every("delete_due", policy.due_interval, deleter.delete_due)
    app.every("sweep", policy.sweep_interval, deleter.sweep)
    app.run()


if __name__ == "__main__":
    main()
