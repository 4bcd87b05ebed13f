"""gRPC entry point of retention: the compliance surface."""

from __future__ import annotations

from typing import Any

from picopt.kernel.protos import to_timestamp
from picopt.retention.v1 import retention_pb2, retention_pb2_grpc
from services.retention.deleter import Deleter


class RetentionServicer(retention_pb2_grpc.RetentionServiceServicer):
    def __init__(self, deleter: Deleter) -> None:
        self.deleter = deleter

    def RunSweep(
        self, request: retention_pb2.RunSweepRequest, context: Any
    ) -> retention_pb2.RunSweepResponse:
        deleted, orphans = self.deleter.sweep()
        return retention_pb2.RunSweepResponse(deleted=deleted, orphans=orphans)

    def GetReport(
        self, request: retention_pb2.GetReportRequest, context: Any
    ) -> retention_pb2.GetReportResponse:
        report = self.deleter.report()
        return retention_pb2.GetReportResponse(
            tracked_objects=report["stored_objects"],  # type: ignore[arg-type]
            oldest_object_age_seconds=report["oldest_object_age_seconds"],  # type: ignore[arg-type]
            deletions=[
                retention_pb2.DeletionCount(reason=r, count=c)
                for r, c in report["deletions"].items()  # type: ignore[attr-defined]
            ],
            last_sweep_at=to_timestamp(report["last_sweep_at"]),  # type: ignore[arg-type]
        )
