"""Compare the ledger's purchases with Stripe's payments and report every disagreement.

Read-only: staff decide how to fix a mismatch (usually replaying the missed
webhook from the Stripe dashboard, or an adjustment with a reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from picopt.kernel.db import Database
from services.billing.models import LedgerEntry, Purchase
from services.billing.stripe_api import StripeApi


@dataclass(frozen=True)
class Mismatch:
    purchase_id: str
    payment_intent_id: str
    kind: str
    detail: str


def reconcile(
    db: Database, stripe_api: StripeApi, since: datetime | None = None
) -> tuple[int, list[Mismatch]]:
    """(purchases checked, mismatches)."""
    with db.session() as s:
        query = select(Purchase).where(Purchase.payment_intent_id.is_not(None))
        if since is not None:
            query = query.where(Purchase.created_at >= since)
        purchases = list(s.scalars(query.order_by(Purchase.created_at)))
        ledger = {
            (pid, kind): int(total)
            for pid, kind, total in s.execute(
                select(LedgerEntry.purchase_id, LedgerEntry.kind, func.sum(LedgerEntry.credits))
                .where(LedgerEntry.purchase_id.is_not(None))
                .group_by(LedgerEntry.purchase_id, LedgerEntry.kind)
            )
        }
        paid_by_id = dict(s.execute(select(Purchase.id, Purchase.paid_at)).tuples().all())
        s.expunge_all()
    found: list[Mismatch] = []
    ours = {p.payment_intent_id for p in purchases}
    for p in purchases:
        assert p.payment_intent_id is not None
        status, received, refunded = stripe_api.payment_state(p.payment_intent_id)

        def report(kind: str, detail: str, p: Purchase = p) -> None:
            found.append(Mismatch(p.id, p.payment_intent_id or "", kind, detail))

        paid_at_stripe = status == "succeeded"
        if paid_at_stripe and p.paid_at is None:
            report("paid_not_granted", f"Stripe received {received}; no credits granted")
        if not paid_at_stripe and p.paid_at is not None:
            report("granted_not_paid", f"credits granted but Stripe status is {status}")
        if paid_at_stripe and received != p.amount:
            report("amount_mismatch", f"Stripe received {received}, the pack costs {p.amount}")
        if refunded != p.amount_refunded:
            report(
                "refund_not_reversed" if refunded > p.amount_refunded else "refund_mismatch",
                f"Stripe refunded {refunded}, the ledger knows {p.amount_refunded}",
            )
        granted = ledger.get((p.id, "purchase"), 0)
        if granted != (p.credits if p.paid_at is not None else 0):
            report("ledger_mismatch", f"ledger holds {granted} purchased credits")
        if -ledger.get((p.id, "refund"), 0) != p.credits_reversed:
            report("ledger_mismatch", "ledger refund entries disagree with the purchase")
    if since is None:
        for intent in stripe_api.payment_intents():
            if intent["id"] in ours or intent.get("status") != "succeeded":
                continue
            purchase_id = str(intent["metadata"].get("purchase_id", ""))
            if purchase_id not in paid_by_id:
                found.append(
                    Mismatch(
                        purchase_id,
                        intent["id"],
                        "unknown_payment",
                        "Stripe holds a paid purchase the ledger does not know",
                    )
                )
            elif paid_by_id[purchase_id] is None:
                found.append(
                    Mismatch(
                        purchase_id,
                        intent["id"],
                        "paid_not_granted",
                        f"Stripe received {intent.get('amount_received')}; no credits granted",
                    )
                )
    return len(purchases), found
