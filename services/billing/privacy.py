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

from collections.abc import Iterator
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from picopt.kernel.db import Database
from picopt.kernel.errors import Unavailable
from picopt.kernel.exports import ROWS_PER_FETCH, ExportPart
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import Outbox
from picopt.kernel.privacy import PrivacyParticipant
from services.billing.models import (
    Account,
    LedgerEntry,
    Purchase,
    Reservation,
    StripeCustomer,
    StripeEvent,
    TrialClaim,
)
from services.billing.stripe_api import StripeApi

log = get_logger(__name__)

T = TypeVar("T")


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

    def export(self, user_id: str) -> Iterator[ExportPart]:
        """The ledger, purchases with their Stripe ids, reservations, the Stripe customer id
        and the trial claim's digest, streamed (a long ledger costs no memory)."""
        with self.db.session(readonly=True) as s:
            account = s.get(Account, user_id)
            if account is not None:
                yield ExportPart.one(
                    "account.json",
                    "accounts",
                    {"user_id": user_id, "created_at": account.created_at},
                )
            yield ExportPart(
                "ledger.json",
                "ledger_entries",
                (
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
                    for e in _rows(
                        s,
                        select(LedgerEntry)
                        .where(LedgerEntry.user_id == user_id)
                        .order_by(LedgerEntry.created_at, LedgerEntry.id),
                    )
                ),
            )
            yield ExportPart(
                "purchases.json",
                "purchases",
                (
                    {
                        "id": p.id,
                        "pack": p.pack_name,
                        "credits": p.credits,
                        "amount": p.amount,
                        "currency": p.currency,
                        "status": p.status,
                        "amount_refunded": p.amount_refunded,
                        "stripe_customer_id": p.stripe_customer_id,
                        "stripe_checkout_session_id": p.checkout_session_id,
                        "stripe_payment_intent_id": p.payment_intent_id,
                        "receipt_sent_at": p.receipt_sent_at,
                        "created_at": p.created_at,
                        "paid_at": p.paid_at,
                        "closed_at": p.closed_at,
                    }
                    for p in _rows(
                        s,
                        select(Purchase)
                        .where(Purchase.user_id == user_id)
                        .order_by(Purchase.created_at),
                    )
                ),
            )
            yield ExportPart(
                "usage.json",
                "reservations",
                (
                    {
                        "job_id": r.job_id,
                        "credits": r.credits,
                        "status": r.status,
                        "created_at": r.created_at,
                        "updated_at": r.updated_at,
                    }
                    for r in _rows(
                        s,
                        select(Reservation)
                        .where(Reservation.user_id == user_id)
                        .order_by(Reservation.created_at),
                    )
                ),
            )
            yield ExportPart(
                "stripe_customers.json",
                "stripe_customers",
                (
                    {"stripe_customer_id": c.customer_id, "created_at": c.created_at}
                    for c in s.scalars(
                        select(StripeCustomer).where(StripeCustomer.user_id == user_id)
                    )
                ),
            )
            yield ExportPart(
                "trial_claims.json",
                "trial_claims",
                (
                    {
                        # A keyed HMAC of the confirmed address: a trial is granted once per
                        # address without billing ever knowing the address.
                        "email_digest": t.email_digest,
                        "claimed_at": t.claimed_at,
                    }
                    for t in s.scalars(select(TrialClaim).where(TrialClaim.user_id == user_id))
                ),
            )


def _rows(s: Session, query: Select[T]) -> Iterator[T]:
    """Entities of a query fetched a page at a time, so a long history streams."""
    return iter(s.scalars(query.execution_options(yield_per=ROWS_PER_FETCH)))
