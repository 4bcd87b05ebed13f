"""Credits and payments: balance, packs, purchases, usage, checkout and Stripe's webhook.

The gateway holds no Stripe secret: the webhook's raw body and signature
header go to billing untouched, and billing verifies them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from picopt.billing.v1 import billing_pb2
from picopt.kernel.protos import from_timestamp
from services.gateway.backends import calling
from services.gateway.identity import current_user_id
from services.gateway.openapi import operation
from services.gateway.problems import Problem

bp = Blueprint("billing", __name__)

MAX_WEBHOOK_BYTES = 512 * 1024
# Checkout makes up to two Stripe calls (with Stripe's own retries) behind this one.
CHECKOUT_DEADLINE_S = 30.0


def _billing() -> Any:
    return current_app.extensions["backends"].billing


def _ts(value: Any, present: bool) -> datetime | None:
    return from_timestamp(value) if present else None


# -- models ------------------------------------------------------------------


class BalanceReply(BaseModel):
    """Credits: available now (granted + purchased) and held by running jobs."""

    available: int
    reserved: int
    granted: int
    purchased: int


class PackModel(BaseModel):
    id: str
    name: str
    credits: int
    amount: int = Field(description="price in the currency's smallest unit (cents)")
    currency: str


class PacksReply(BaseModel):
    """Packs for sale and what a job costs."""

    packs: list[PackModel]
    image_cost: int = Field(description="credits per optimized output")
    metadata_cost: int = Field(description="extra credits when AI metadata is requested")
    currency: str


class CheckoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pack: str = Field(min_length=1, max_length=40)


class CheckoutReply(BaseModel):
    """Where to pay: a hosted Checkout page URL, or a client secret for Stripe's payment element."""

    purchase_id: str
    mode: Literal["checkout", "payment_intent"]
    checkout_url: str | None
    client_secret: str | None
    payment_intent_id: str | None


class Receipt(BaseModel):
    number: str
    paid_at: datetime
    amount: int
    currency: str
    description: str
    stripe_payment_id: str | None
    emailed: bool


class PurchaseModel(BaseModel):
    id: str
    pack: str
    pack_name: str
    credits: int
    amount: int
    currency: str
    status: Literal["pending", "paid", "refunded", "expired", "failed"]
    amount_refunded: int
    credits_reversed: int
    created_at: datetime
    receipt: Receipt | None


class PurchaseList(BaseModel):
    """The user's purchases, newest first, with receipt data for paid ones."""

    purchases: list[PurchaseModel]
    next_cursor: str | None


class PageQuery(BaseModel):
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=200)


class UsageQuery(PageQuery):
    group: Literal["job", "day"] = "job"


class UsageItemModel(BaseModel):
    job_id: str | None
    day: str | None = Field(description="YYYY-MM-DD (UTC) when grouped by day")
    credits: int
    jobs: int
    at: datetime | None = Field(description="when the job's credits were captured")


class UsageReply(BaseModel):
    """Credits consumed, per job or per day, newest first."""

    group: Literal["job", "day"]
    items: list[UsageItemModel]
    next_cursor: str | None


class WebhookReply(BaseModel):
    """The event was accepted (or was a redelivery of one already applied)."""

    received: bool
    outcome: str


# -- routes ------------------------------------------------------------------


@bp.get("/v1/billing/balance")
@operation("Credit balance", tags=["billing"], responses={200: BalanceReply})
def balance() -> Response:
    user_id = current_user_id()
    with calling("billing"):
        reply = _billing().GetBalance(billing_pb2.GetBalanceRequest(user_id=user_id))
    return jsonify(
        BalanceReply(
            available=reply.available,
            reserved=reply.reserved,
            granted=reply.granted,
            purchased=reply.purchased,
        ).model_dump(mode="json")
    )


@bp.get("/v1/billing/packs")
@operation(
    "Credit packs for sale and job prices",
    tags=["billing"],
    responses={200: PacksReply},
    auth=False,
)
def packs() -> Response:
    with calling("billing"):
        reply = _billing().ListPacks(billing_pb2.ListPacksRequest())
    return jsonify(
        PacksReply(
            packs=[
                PackModel(
                    id=p.id, name=p.name, credits=p.credits, amount=p.amount, currency=p.currency
                )
                for p in reply.packs
            ],
            image_cost=reply.image_cost,
            metadata_cost=reply.metadata_cost,
            currency=reply.currency,
        ).model_dump(mode="json")
    )


@bp.post("/v1/billing/checkout")
@operation(
    "Start buying a credit pack through Stripe",
    tags=["billing"],
    body=CheckoutBody,
    responses={201: CheckoutReply},
    problems=[409],
)
def checkout(body: CheckoutBody) -> tuple[Response, int]:
    """An `Idempotency-Key` header makes retries answer the same purchase."""
    user_id = current_user_id()
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 80 or not key.isprintable():
        raise Problem(
            400, "invalid-parameter", "Idempotency-Key must be printable and at most 80 characters"
        )
    with calling("billing"):
        reply = _billing().CreateCheckout(
            billing_pb2.CreateCheckoutRequest(user_id=user_id, pack_id=body.pack, request_key=key),
            timeout=CHECKOUT_DEADLINE_S,
        )
    return jsonify(
        CheckoutReply(
            purchase_id=reply.purchase_id,
            mode=reply.mode,  # type: ignore[arg-type]
            checkout_url=reply.checkout_url or None,
            client_secret=reply.client_secret or None,
            payment_intent_id=reply.payment_intent_id or None,
        ).model_dump(mode="json")
    ), 201


def _purchase(p: billing_pb2.Purchase) -> PurchaseModel:
    paid_at = _ts(p.paid_at, p.HasField("paid_at"))
    receipt = None
    if paid_at is not None:
        receipt = Receipt(
            number=p.id,
            paid_at=paid_at,
            amount=p.amount,
            currency=p.currency,
            description=f"{p.pack_name} ({p.credits} credits)",
            stripe_payment_id=p.payment_intent_id or p.checkout_session_id or None,
            emailed=p.receipt_sent,
        )
    created_at = _ts(p.created_at, True)
    assert created_at is not None
    return PurchaseModel(
        id=p.id,
        pack=p.pack_id,
        pack_name=p.pack_name,
        credits=p.credits,
        amount=p.amount,
        currency=p.currency,
        status=p.status,  # type: ignore[arg-type]
        amount_refunded=p.amount_refunded,
        credits_reversed=p.credits_reversed,
        created_at=created_at,
        receipt=receipt,
    )


@bp.get("/v1/billing/purchases")
@operation(
    "Purchases with receipt data", tags=["billing"], query=PageQuery, responses={200: PurchaseList}
)
def purchases(query: PageQuery) -> Response:
    user_id = current_user_id()
    with calling("billing"):
        reply = _billing().ListPurchases(
            billing_pb2.ListPurchasesRequest(
                user_id=user_id, page_size=query.limit, cursor=query.cursor or ""
            )
        )
    return jsonify(
        PurchaseList(
            purchases=[_purchase(p) for p in reply.purchases],
            next_cursor=reply.next_cursor or None,
        ).model_dump(mode="json")
    )


@bp.get("/v1/usage")
@operation(
    "Credits consumed per job or per day",
    tags=["billing"],
    query=UsageQuery,
    responses={200: UsageReply},
)
def usage(query: UsageQuery) -> Response:
    user_id = current_user_id()
    with calling("billing"):
        reply = _billing().ListUsage(
            billing_pb2.ListUsageRequest(
                user_id=user_id,
                group_by=query.group,
                page_size=query.limit,
                cursor=query.cursor or "",
            )
        )
    return jsonify(
        UsageReply(
            group=query.group,
            items=[
                UsageItemModel(
                    job_id=i.job_id or None,
                    day=i.day or None,
                    credits=i.credits,
                    jobs=i.jobs,
                    at=_ts(i.at, i.HasField("at")),
                )
                for i in reply.items
            ],
            next_cursor=reply.next_cursor or None,
        ).model_dump(mode="json")
    )


@bp.post("/v1/billing/stripe/webhook")
@operation(
    "Stripe webhook endpoint (signed by Stripe)",
    tags=["billing"],
    responses={200: WebhookReply},
    problems=[400, 409, 413],
    auth=False,
)
def stripe_webhook() -> Response:
    if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
        raise Problem(413, "too-large", f"webhook bodies are limited to {MAX_WEBHOOK_BYTES} bytes")
    payload = request.get_data(cache=False)
    signature = request.headers.get("Stripe-Signature", "")
    if not signature:
        raise Problem(400, "invalid_signature", "the Stripe-Signature header is missing")
    with calling("billing"):
        reply = _billing().HandleStripeWebhook(
            billing_pb2.HandleStripeWebhookRequest(payload=payload, signature=signature)
        )
    return jsonify(WebhookReply(received=True, outcome=reply.outcome).model_dump(mode="json"))
