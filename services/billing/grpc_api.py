"""gRPC entry point of billing: translates messages, the use cases do the work.

`AdjustCredits` and `Reconcile` are staff operations: they need the billing staff token
(picopt.kernel.staff), so a caller that merely reaches billing's port cannot mint credits
or read every purchase.
"""

from __future__ import annotations

import uuid
from typing import Any

from picopt.billing.v1 import billing_pb2, billing_pb2_grpc
from picopt.kernel.errors import InvalidArgument
from picopt.kernel.protos import from_timestamp, to_timestamp
from picopt.kernel.staff import require_staff
from services.billing.ledger import Ledger
from services.billing.models import Purchase
from services.billing.purchases import Purchases
from services.billing.reconcile import reconcile
from services.billing.usage import Usage
from services.billing.webhooks import StripeWebhooks


def purchase_message(p: Purchase) -> billing_pb2.Purchase:
    return billing_pb2.Purchase(
        id=p.id,
        pack_id=p.pack_id,
        pack_name=p.pack_name,
        credits=p.credits,
        amount=p.amount,
        currency=p.currency,
        status=p.status,
        amount_refunded=p.amount_refunded,
        credits_reversed=p.credits_reversed,
        created_at=to_timestamp(p.created_at),
        paid_at=to_timestamp(p.paid_at),
        payment_intent_id=p.payment_intent_id or "",
        checkout_session_id=p.checkout_session_id or "",
        receipt_sent=p.receipt_sent_at is not None,
    )


class BillingServicer(billing_pb2_grpc.BillingServiceServicer):
    def __init__(
        self, ledger: Ledger, purchases: Purchases, webhooks: StripeWebhooks, staff_token: str
    ) -> None:
        self.ledger = ledger
        self.staff_token = staff_token
        self.purchases = purchases
        self.webhooks = webhooks
        self.usage = Usage(ledger.db)

    def GetBalance(
        self, request: billing_pb2.GetBalanceRequest, context: Any
    ) -> billing_pb2.GetBalanceResponse:
        b = self.ledger.balance(request.user_id)
        return billing_pb2.GetBalanceResponse(
            available=b.available, reserved=b.reserved, granted=b.granted, purchased=b.purchased
        )

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
                    bucket=e.bucket,
                    purchase_id=e.purchase_id or "",
                    expires_at=to_timestamp(e.expires_at),
                )
                for e in self.ledger.entries(request.user_id)
            ]
        )

    def ListPacks(
        self, request: billing_pb2.ListPacksRequest, context: Any
    ) -> billing_pb2.ListPacksResponse:
        pricing = self.ledger.pricing
        return billing_pb2.ListPacksResponse(
            packs=[
                billing_pb2.Pack(
                    id=p.id,
                    name=p.name,
                    credits=p.credits,
                    amount=p.amount,
                    currency=pricing.currency,
                )
                for p in pricing.packs
            ],
            image_cost=pricing.image,
            metadata_cost=pricing.metadata,
            currency=pricing.currency,
        )

    def CreateCheckout(
        self, request: billing_pb2.CreateCheckoutRequest, context: Any
    ) -> billing_pb2.CreateCheckoutResponse:
        checkout = self.purchases.checkout(request.user_id, request.pack_id, request.request_key)
        payment = checkout.payment
        return billing_pb2.CreateCheckoutResponse(
            purchase_id=checkout.purchase_id,
            mode=checkout.mode,
            checkout_url=payment.checkout_url,
            client_secret=payment.client_secret,
            checkout_session_id=payment.checkout_session_id,
            payment_intent_id=payment.payment_intent_id,
        )

    def HandleStripeWebhook(
        self, request: billing_pb2.HandleStripeWebhookRequest, context: Any
    ) -> billing_pb2.HandleStripeWebhookResponse:
        result = self.webhooks.handle(request.payload, request.signature)
        return billing_pb2.HandleStripeWebhookResponse(
            event_id=result.event_id, outcome=result.outcome
        )

    def ListPurchases(
        self, request: billing_pb2.ListPurchasesRequest, context: Any
    ) -> billing_pb2.ListPurchasesResponse:
        rows, cursor = self.purchases.page(request.user_id, request.page_size, request.cursor)
        return billing_pb2.ListPurchasesResponse(
            purchases=[purchase_message(p) for p in rows], next_cursor=cursor
        )

    def ListUsage(
        self, request: billing_pb2.ListUsageRequest, context: Any
    ) -> billing_pb2.ListUsageResponse:
        items, cursor = self.usage.page(
            request.user_id, request.group_by, request.page_size, request.cursor
        )
        return billing_pb2.ListUsageResponse(
            items=[
                billing_pb2.UsageItem(
                    job_id=i.job_id,
                    day=i.day,
                    credits=i.credits,
                    jobs=i.jobs,
                    at=to_timestamp(i.at),
                )
                for i in items
            ],
            next_cursor=cursor,
        )

    def AdjustCredits(
        self, request: billing_pb2.AdjustCreditsRequest, context: Any
    ) -> billing_pb2.AdjustCreditsResponse:
        require_staff(context, self.staff_token)
        if not request.user_id:
            raise InvalidArgument("user_id is required")
        b = self.ledger.adjust(
            request.user_id,
            request.credits,
            request.reason,
            request.idempotency_key or str(uuid.uuid4()),
        )
        return billing_pb2.AdjustCreditsResponse(
            available=b.available, granted=b.granted, purchased=b.purchased
        )

    def Reconcile(
        self, request: billing_pb2.ReconcileRequest, context: Any
    ) -> billing_pb2.ReconcileResponse:
        require_staff(context, self.staff_token)
        since = from_timestamp(request.since) if request.HasField("since") else None
        checked, mismatches = reconcile(self.ledger.db, self.purchases.stripe, since)
        return billing_pb2.ReconcileResponse(
            checked=checked,
            mismatches=[
                billing_pb2.Mismatch(
                    purchase_id=m.purchase_id,
                    payment_intent_id=m.payment_intent_id,
                    kind=m.kind,
                    detail=m.detail,
                )
                for m in mismatches
            ],
        )
