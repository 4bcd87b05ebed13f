"""Buying packs: start a Stripe payment, then turn Stripe's verdicts into ledger entries.

A purchase row is committed before Stripe is called, so every Stripe object
we create carries an id we already know (in its metadata and idempotency
key). Payment, refund and expiry verdicts may arrive in any order and any
number of times; each is applied under the user's account lock and is
idempotent by purchase id, so the ledger ends in the same state regardless.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from picopt.kernel.db import utcnow
from picopt.kernel.errors import InvalidArgument, NotFound
from picopt.kernel.logs import get_logger
from services.billing.ledger import Ledger, rowcount
from services.billing.models import PURCHASED, Purchase, StripeCustomer
from services.billing.stripe_api import StartedPayment, StripeApi

log = get_logger(__name__)


@dataclass(frozen=True)
class Checkout:
    purchase_id: str
    mode: str
    payment: StartedPayment


class Purchases:
    def __init__(self, ledger: Ledger, stripe_api: StripeApi) -> None:
        self.ledger = ledger
        self.db = ledger.db
        self.stripe = stripe_api

    # -- starting a purchase -------------------------------------------

    def checkout(self, user_id: str, pack_id: str, request_key: str = "") -> Checkout:
        if not user_id:
            raise InvalidArgument("user_id is required")
        pack = self.ledger.pricing.pack(pack_id)
        if pack is None:
            known = ", ".join(p.id for p in self.ledger.pricing.packs)
            raise InvalidArgument(f"unknown pack {pack_id!r}; choose one of: {known}")
        stripe_api = self.stripe
        stripe_api.client  # noqa: B018 - fails early when payments are not configured
        if len(request_key) > 80:
            raise InvalidArgument("Idempotency-Key must be at most 80 characters")
        purchase = self._open(user_id, pack_id, request_key)
        if purchase.checkout_session_id or purchase.payment_intent_id:
            payment = stripe_api.resume(
                purchase.checkout_session_id or "", purchase.payment_intent_id or ""
            )
            return Checkout(purchase.id, purchase.mode, payment)
        currency = purchase.currency
        try:
            customer_id = self._customer(user_id)
            if purchase.mode == "checkout":
                payment = stripe_api.start_checkout(
                    purchase.id, user_id, customer_id, pack, currency
                )
            else:
                payment = stripe_api.start_payment_intent(
                    purchase.id, user_id, customer_id, pack, currency
                )
        except Exception:
            self._set(purchase.id, status="failed", closed_at=utcnow())
            raise
        self._set(
            purchase.id,
            stripe_customer_id=customer_id,
            checkout_session_id=payment.checkout_session_id or None,
            payment_intent_id=payment.payment_intent_id or None,
        )
        log.info("checkout_started", purchase_id=purchase.id, pack_id=pack.id, mode=purchase.mode)
        return Checkout(purchase.id, purchase.mode, payment)

    def _open(self, user_id: str, pack_id: str, request_key: str) -> Purchase:
        """The pending purchase for this request: new, or the earlier one with the same key."""
        pack = self.ledger.pricing.pack(pack_id)
        assert pack is not None
        key = f"{user_id}:{request_key}" if request_key else None
        if key:
            with self.db.session() as s:
                found = s.scalar(select(Purchase).where(Purchase.request_key == key))
                if found is not None:
                    if found.pack_id != pack_id:
                        raise InvalidArgument("this Idempotency-Key was used for another pack")
                    if found.status != "failed":
                        return found
        purchase = Purchase(
            id=str(uuid.uuid4()),
            user_id=user_id,
            pack_id=pack.id,
            pack_name=pack.name,
            credits=pack.credits,
            amount=pack.amount,
            currency=self.ledger.pricing.currency,
            mode=self.stripe.config.mode,
            status="pending",
            request_key=key,
            stripe_customer_id="",
            amount_refunded=0,
            credits_reversed=0,
            created_at=utcnow(),
        )
        try:
            with self.db.session() as s:
                if key:
                    # A failed attempt frees its key for the retry.
                    s.execute(
                        update(Purchase)
                        .where(Purchase.request_key == key, Purchase.status == "failed")
                        .values(request_key=None)
                    )
                s.add(purchase)
        except IntegrityError:
            with self.db.session() as s:
                found = s.scalar(select(Purchase).where(Purchase.request_key == key))
                if found is None:
                    raise
                return found
        return purchase

    def _customer(self, user_id: str) -> str:
        """The user's Stripe customer, created on first use (Stripe's idempotency key makes a
        concurrent first use create one customer)."""
        with self.db.session() as s:
            known = s.get(StripeCustomer, user_id)
            if known is not None:
                return known.customer_id
        customer_id = self.stripe.create_customer(user_id)
        try:
            with self.db.session() as s:
                s.add(StripeCustomer(user_id=user_id, customer_id=customer_id, created_at=utcnow()))
        except IntegrityError:
            with self.db.session() as s:
                known = s.get(StripeCustomer, user_id)
                assert known is not None
                return known.customer_id
        return customer_id

    def _set(self, purchase_id: str, **values: object) -> None:
        with self.db.session() as s:
            s.execute(update(Purchase).where(Purchase.id == purchase_id).values(**values))

    # -- Stripe's verdicts (inside the webhook's transaction) ------------

    def find(
        self,
        s: Session,
        purchase_id: str = "",
        session_id: str = "",
        payment_intent_id: str = "",
    ) -> Purchase | None:
        """The purchase an event is about; ids Stripe gave us must agree with ours."""
        found = s.get(Purchase, purchase_id) if _is_uuid(purchase_id) else None
        if found is None and session_id:
            found = s.scalar(select(Purchase).where(Purchase.checkout_session_id == session_id))
        if found is None and payment_intent_id:
            found = s.scalar(
                select(Purchase).where(Purchase.payment_intent_id == payment_intent_id)
            )
        if found is None:
            return None
        mismatch = (session_id and found.checkout_session_id not in (None, session_id)) or (
            payment_intent_id and found.payment_intent_id not in (None, payment_intent_id)
        )
        if mismatch:
            log.warning("stripe_ids_mismatch", purchase_id=found.id)
            return None
        return found

    def mark_paid(self, s: Session, purchase: Purchase, payment_intent_id: str = "") -> str:
        """Grant the pack's credits once; a refund seen earlier is applied right after."""
        if purchase.user_id is None:
            return "erased_user"
        self.ledger.lock_account(s, purchase.user_id)
        s.refresh(purchase)
        if payment_intent_id and not purchase.payment_intent_id:
            purchase.payment_intent_id = payment_intent_id
        if purchase.paid_at is not None:
            return "already_applied"
        purchase.status, purchase.paid_at = "paid", utcnow()
        purchase.closed_at = None
        self.ledger.grant(
            s,
            purchase.user_id,
            purchase.credits,
            f"purchase:{purchase.id}",
            f"pack {purchase.pack_id}",
            kind="purchase",
            bucket=PURCHASED,
            purchase_id=purchase.id,
        )
        self._reverse_refunded(s, purchase)
        log.info("purchase_paid", purchase_id=purchase.id, credits=purchase.credits)
        return "granted"

    def mark_refunded(self, s: Session, purchase: Purchase, amount_refunded: int) -> str:
        """Record Stripe's cumulative refunded amount and reverse the matching credits."""
        if purchase.user_id is None:
            return "erased_user"
        self.ledger.lock_account(s, purchase.user_id)
        s.refresh(purchase)
        if amount_refunded <= purchase.amount_refunded:
            return "already_applied"
        purchase.amount_refunded = min(amount_refunded, purchase.amount)
        if purchase.paid_at is None:
            log.info("refund_before_payment", purchase_id=purchase.id)
            return "refund_recorded"
        return "reversed" if self._reverse_refunded(s, purchase) else "already_applied"

    def _reverse_refunded(self, s: Session, purchase: Purchase) -> int:
        """Take back credits in proportion to the refunded amount (all of them for a full
        refund); the purchased bucket may go negative if they were already spent."""
        assert purchase.user_id is not None
        target = purchase.credits * purchase.amount_refunded // purchase.amount
        delta = target - purchase.credits_reversed
        if delta > 0:
            self.ledger.debit(
                s,
                purchase.user_id,
                delta,
                f"refund:{purchase.id}:{target}",
                f"refund of pack {purchase.pack_id}",
                kind="refund",
                bucket=PURCHASED,
                purchase_id=purchase.id,
            )
            purchase.credits_reversed = target
            log.info("purchase_refunded", purchase_id=purchase.id, credits=delta)
        if purchase.amount_refunded >= purchase.amount:
            purchase.status, purchase.closed_at = "refunded", utcnow()
        return max(delta, 0)

    def mark_expired(self, s: Session, purchase: Purchase) -> str:
        if purchase.user_id is not None:
            self.ledger.lock_account(s, purchase.user_id)
        s.refresh(purchase)
        if purchase.status != "pending":
            return "already_applied"
        purchase.status, purchase.closed_at = "expired", utcnow()
        log.info("purchase_expired", purchase_id=purchase.id)
        return "expired"

    def expire_stale(self, older_than: timedelta) -> int:
        """Close purchases still pending long after checkout (an abandoned PaymentIntent gets
        no expiry event from Stripe). A payment that arrives later is still granted."""
        cutoff = utcnow() - older_than
        with self.db.session() as s:
            closed = rowcount(
                s.execute(
                    update(Purchase)
                    .where(Purchase.status == "pending", Purchase.created_at < cutoff)
                    .values(status="expired", closed_at=utcnow())
                )
            )
        if closed:
            log.info("stale_purchases_expired", count=closed)
        return closed

    # -- reading -----------------------------------------------------------

    def page(
        self, user_id: str, page_size: int = 20, cursor: str = ""
    ) -> tuple[list[Purchase], str]:
        """A user's purchases, newest first; failed attempts are left out."""
        page_size = min(max(page_size or 20, 1), 100)
        with self.db.session() as s:
            query = select(Purchase).where(Purchase.user_id == user_id, Purchase.status != "failed")
            if cursor:
                at, purchase_id = decode_cursor(cursor)
                query = query.where(
                    (Purchase.created_at < at)
                    | ((Purchase.created_at == at) & (Purchase.id < purchase_id))
                )
            rows = list(
                s.scalars(
                    query.order_by(Purchase.created_at.desc(), Purchase.id.desc()).limit(
                        page_size + 1
                    )
                )
            )
            s.expunge_all()
        more = len(rows) > page_size
        rows = rows[:page_size]
        return rows, encode_cursor(rows[-1].created_at, rows[-1].id) if more else ""

    def get(self, purchase_id: str) -> Purchase:
        with self.db.session() as s:
            found = s.get(Purchase, purchase_id) if _is_uuid(purchase_id) else None
            if found is None:
                raise NotFound("no such purchase")
            s.expunge(found)
            return found


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def encode_cursor(at: datetime, key: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Opaque to clients; a mangled cursor is a 400, not a 500."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, key = raw.split("|", 1)
        return datetime.fromisoformat(at), key
    except ValueError as exc:
        raise InvalidArgument("invalid cursor", code="invalid_cursor") from exc
