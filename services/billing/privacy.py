"""Billing's part of privacy requests: anonymizing erasure, log purge and export.

Tax law requires keeping payment records, so erasure removes the person and
keeps the money:
- kept: paid `purchases` with what a tax record needs (amount, currency,
  credits, pack, status, refunds, the Stripe PaymentIntent id that refunds and
  reconciliation match on, created/paid/closed dates) and `user_id`,
  `request_key` (it embeds the user id), the Stripe customer id and the
  Checkout Session id removed; `ledger_entries`, `reservations` and `accounts`
  (ids, credit amounts, kinds, dates; the user id is a random UUID that, once
  auth has erased the account, names no one); `trial_claims.email_digest` (a
  keyed HMAC, never the address, so a trial cannot be claimed twice) with
  `user_id` set to NULL; `stripe_events` (Stripe event ids and outcomes).
- deleted: purchases never paid (no tax record needed), `stripe_customers` (the
  link from the user to a Stripe customer), and at Stripe: `metadata.user_id` on
  every PaymentIntent (and Checkout Session, where Stripe allows) of the user's
  purchases, then the customer object itself (it holds the email Stripe
  collected), through the API before the rows change. While Stripe cannot be
  reached the erasure raises: nothing is committed, the event is retried (and
  retention re-sends `account.erase` to stale requests), so billing answers
  `account.erased` only once Stripe confirmed. Stripe keeps the payments
  themselves, as tax law requires, pointing at the deleted customer.
Billing never stores names, emails or card data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from picopt.kernel.db import Database
from picopt.kernel.errors import Unavailable
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import Outbox
from picopt.kernel.privacy import PrivacyParticipant
from services.billing.models import (
    LedgerEntry,
    Purchase,
    Reservation,
    StripeCustomer,
    StripeEvent,
    TrialClaim,
)
from services.billing.stripe_api import StripeApi

log = get_logger(__name__)


class BillingPrivacy:
    def __init__(self, db: Database, outbox: Outbox, stripe_api: StripeApi) -> None:
        self.db = db
        self.stripe_api = stripe_api
        self.participant = PrivacyParticipant(
            "billing", outbox, self.erase, self.purge, self.export
        )

    def erase(self, s: Session, user_id: str) -> dict[str, int]:
        purchases = list(
            s.scalars(select(Purchase).where(Purchase.user_id == user_id).with_for_update())
        )
        stripe_ids = list(
            s.scalars(select(StripeCustomer.customer_id).where(StripeCustomer.user_id == user_id))
        )
        if any(p.payment_intent_id or p.checkout_session_id for p in purchases):
            self._require_stripe()
        for p in purchases:
            self.stripe_api.scrub_payment(p.payment_intent_id or "", p.checkout_session_id or "")
        self._delete_at_stripe(stripe_ids)
        unpaid = [p for p in purchases if p.paid_at is None]
        for p in purchases:
            if p.paid_at is None:
                s.delete(p)
            else:
                p.user_id, p.request_key, p.checkout_session_id = None, None, None
                p.stripe_customer_id = ""
        claims = s.execute(
            update(TrialClaim).where(TrialClaim.user_id == user_id).values(user_id=None)
        )
        customers = s.execute(delete(StripeCustomer).where(StripeCustomer.user_id == user_id))
        return {
            "purchases_anonymized": len(purchases) - len(unpaid),
            "purchases_unpaid_deleted": len(unpaid),
            "stripe_payments_scrubbed": sum(1 for p in purchases if p.payment_intent_id),
            "trial_claims_anonymized": int(claims.rowcount or 0),  # type: ignore[attr-defined]
            "stripe_customers": int(customers.rowcount or 0),  # type: ignore[attr-defined]
            "stripe_customers_deleted_at_stripe": len(stripe_ids),
        }

    def _require_stripe(self) -> None:
        if not self.stripe_api.configured:
            raise Unavailable(
                "the user's data at Stripe must be erased but STRIPE_API_KEY is unset",
                code="payments_not_configured",
            )

    def _delete_at_stripe(self, customer_ids: list[str]) -> None:
        """Raise (so the erasure is retried) until Stripe has deleted every customer."""
        if customer_ids:
            self._require_stripe()
        for customer_id in customer_ids:
            self.stripe_api.delete_customer(customer_id)
            log.info("stripe_customer_deleted", customer_id=customer_id)

    def purge(self, s: Session, older_than: datetime) -> dict[str, int]:
        """Webhook intake log; the ledger and purchases are financial records, not logs."""
        events = s.execute(delete(StripeEvent).where(StripeEvent.received_at < older_than))
        return {"stripe_events": int(events.rowcount or 0)}  # type: ignore[attr-defined]

    def export(self, user_id: str) -> dict[str, Any]:
        with self.db.session(readonly=True) as s:
            entries = s.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.user_id == user_id)
                .order_by(LedgerEntry.created_at)
            )
            ledger = [
                {
                    "id": e.id,
                    "kind": e.kind,
                    "bucket": e.bucket,
                    "credits": e.credits,
                    "job_id": e.job_id,
                    "purchase_id": e.purchase_id,
                    "reason": e.reason,
                    "expires_at": e.expires_at,
                    "created_at": e.created_at,
                }
                for e in entries
            ]
            purchases = [
                {
                    "id": p.id,
                    "pack": p.pack_name,
                    "credits": p.credits,
                    "amount": p.amount,
                    "currency": p.currency,
                    "status": p.status,
                    "amount_refunded": p.amount_refunded,
                    "stripe_checkout_session_id": p.checkout_session_id,
                    "stripe_payment_intent_id": p.payment_intent_id,
                    "created_at": p.created_at,
                    "paid_at": p.paid_at,
                }
                for p in s.scalars(
                    select(Purchase)
                    .where(Purchase.user_id == user_id)
                    .order_by(Purchase.created_at)
                )
            ]
            usage = [
                {
                    "job_id": r.job_id,
                    "credits": r.credits,
                    "status": r.status,
                    "created_at": r.created_at,
                    "updated_at": r.updated_at,
                }
                for r in s.scalars(
                    select(Reservation)
                    .where(Reservation.user_id == user_id)
                    .order_by(Reservation.created_at)
                )
            ]
        return {
            "ledger.json": ledger,
            "purchases.json": purchases,
            "usage.json": usage,
        }
