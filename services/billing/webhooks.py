"""Stripe webhook intake: verify, record the event id once, apply the verdict.

The gateway forwards the raw body and the Stripe-Signature header; only
billing knows the endpoint secret. An event id is stored under a unique key
in the same transaction as its effect, so a redelivery (or a concurrent
duplicate) changes nothing and still answers 200, which stops Stripe's
retries. Bad or stale signatures answer 400.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from picopt.kernel.db import utcnow
from picopt.kernel.logs import get_logger
from services.billing.disputes import Disputes
from services.billing.models import Purchase, StripeEvent
from services.billing.purchases import Purchases
from services.billing.stripe_api import StripeApi

log = get_logger(__name__)

PAID_SESSION_STATES = ("paid", "no_payment_required")


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    outcome: str
    purchase_id: str = ""


class StripeWebhooks:
    def __init__(
        self,
        purchases: Purchases,
        stripe_api: StripeApi,
        on_paid: Callable[[str], object] | None = None,
    ) -> None:
        self.purchases = purchases
        self.db = purchases.db
        self.stripe = stripe_api
        self.on_paid = on_paid
        self.disputes = Disputes(purchases.ledger)

    def handle(self, payload: bytes, signature: str) -> WebhookResult:
        event = self.stripe.verify(payload, signature)
        event_id, event_type = event["id"], event["type"]
        obj: dict[str, Any] = event["data"]["object"]
        try:
            with self.db.session() as s:
                if s.get(StripeEvent, event_id) is not None:
                    return WebhookResult(event_id, "duplicate")
                outcome, purchase = self._apply(s, event_type, obj)
                purchase_id = purchase.id if purchase is not None else ""
                s.add(
                    StripeEvent(
                        event_id=event_id,
                        event_type=event_type[:100],
                        outcome=outcome,
                        purchase_id=purchase_id or None,
                        received_at=utcnow(),
                    )
                )
        except IntegrityError:
            # A concurrent delivery of the same event committed first; its effect stands.
            return WebhookResult(event_id, "duplicate")
        log.info(
            "stripe_event_applied",
            event_id=event_id,
            event_type=event_type,
            outcome=outcome,
            purchase_id=purchase_id,
        )
        if outcome == "granted" and self.on_paid is not None:
            self.on_paid(purchase_id)
        return WebhookResult(event_id, outcome, purchase_id)

    def _apply(
        self, s: Session, event_type: str, obj: dict[str, Any]
    ) -> tuple[str, Purchase | None]:
        meta = obj.get("metadata") or {}
        purchase_id = str(meta.get("purchase_id") or "")
        p = self.purchases
        if event_type in (
            "checkout.session.completed",
            "checkout.session.async_payment_succeeded",
        ):
            found = p.find(s, purchase_id or str(obj.get("client_reference_id") or ""), obj["id"])
            if found is None:
                return "unknown_purchase", None
            if obj.get("payment_status") not in PAID_SESSION_STATES:
                return "awaiting_payment", found
            return p.mark_paid(s, found, str(obj.get("payment_intent") or "")), found
        if event_type == "payment_intent.succeeded":
            found = p.find(s, purchase_id, payment_intent_id=obj["id"])
            if found is None:
                return "unknown_purchase", None
            return p.mark_paid(s, found, obj["id"]), found
        if event_type == "charge.refunded" or event_type.startswith("charge.dispute."):
            found = self._paid_by(s, purchase_id, str(obj.get("payment_intent") or ""))
            if found is None:
                return "unknown_purchase", None
            if event_type == "charge.refunded":
                return p.mark_refunded(s, found, int(obj.get("amount_refunded") or 0)), found
            return self._dispute(s, event_type, obj, found), found
        if event_type == "checkout.session.expired":
            found = p.find(s, purchase_id or str(obj.get("client_reference_id") or ""), obj["id"])
            if found is None:
                return "unknown_purchase", None
            return p.mark_expired(s, found), found
        return "ignored", None

    def _paid_by(self, s: Session, purchase_id: str, intent_id: str) -> Purchase | None:
        """The purchase a charge event is about, by our id or its PaymentIntent."""
        found = self.purchases.find(s, purchase_id, payment_intent_id=intent_id)
        if found is None and intent_id and self.stripe.configured:
            # In checkout mode the charge may beat the session event that tells us the
            # intent id; the intent's own metadata names the purchase.
            meta = self.stripe.payment_intent_metadata(intent_id)
            found = self.purchases.find(s, meta.get("purchase_id", ""), payment_intent_id=intent_id)
            if found is not None and not found.payment_intent_id:
                found.payment_intent_id = intent_id
        return found

    def _dispute(self, s: Session, event_type: str, obj: dict[str, Any], found: Purchase) -> str:
        dispute_id = str(obj["id"])
        if event_type in ("charge.dispute.created", "charge.dispute.funds_withdrawn"):
            return self.disputes.opened(s, found, dispute_id, int(obj.get("amount") or 0))
        if event_type == "charge.dispute.funds_reinstated":
            return self.disputes.reinstated(s, found, dispute_id)
        if event_type == "charge.dispute.closed":
            return self.disputes.closed(s, found, dispute_id, str(obj.get("status") or ""))
        return "ignored"
