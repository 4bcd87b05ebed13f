"""gRPC entry point of billing."""

from __future__ import annotations

from typing import Any

from picopt.billing.v1 import billing_pb2, billing_pb2_grpc
from picopt.kernel.protos import to_timestamp
from services.billing.ledger import Ledger


class BillingServicer(billing_pb2_grpc.BillingServiceServicer):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def GetBalance(
        self, request: billing_pb2.GetBalanceRequest, context: Any
    ) -> billing_pb2.GetBalanceResponse:
        available, reserved = self.ledger.balance(request.user_id)
        return billing_pb2.GetBalanceResponse(available=available, reserved=reserved)

    def Reserve(
        self, request: billing_pb2.ReserveRequest, context: Any
    ) -> billing_pb2.ReserveResponse:
        credits, available = self.ledger.reserve(
            request.job_id, request.user_id, request.with_metadata, request.outputs
        )
        return billing_pb2.ReserveResponse(credits=credits, available=available)

    def Capture(
        self, request: billing_pb2.CaptureRequest, context: Any
    ) -> billing_pb2.CaptureResponse:
        with self.ledger.db.session() as s:
            return billing_pb2.CaptureResponse(credits=self.ledger.capture(s, request.job_id))

    def Release(
        self, request: billing_pb2.ReleaseRequest, context: Any
    ) -> billing_pb2.ReleaseResponse:
        with self.ledger.db.session() as s:
            credits = self.ledger.release(s, request.job_id, request.reason or "released")
        return billing_pb2.ReleaseResponse(credits=credits)

    def ListLedger(
        self, request: billing_pb2.ListLedgerRequest, context: Any
    ) -> billing_pb2.ListLedgerResponse:
        return billing_pb2.ListLedgerResponse(
            entries=[
                billing_pb2.LedgerEntry(
                    id=e.id,
                    kind=e.kind,
                    credits=e.credits,
                    job_id=e.job_id or "",
                    reason=e.reason,
                    created_at=to_timestamp(e.created_at),
                )
                for e in self.ledger.entries(request.user_id)
            ]
        )
