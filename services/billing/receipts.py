"""Receipt emails for paid purchases, through the shared mailer.

Billing keeps no email addresses: it asks auth for the buyer's address at
sending time. A receipt is claimed (receipt_sent_at set) before sending and
the claim is undone if sending fails, so a periodic retry delivers it once
auth or the mail server is back.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import grpc
from sqlalchemy import select, update

from picopt.auth.v1 import auth_pb2
from picopt.kernel.db import Database, utcnow
from picopt.kernel.logs import get_logger
from picopt.kernel.mailer import Mailer
from services.billing.ledger import rowcount
from services.billing.models import Purchase

log = get_logger(__name__)

# Currencies Stripe counts in whole units (no cents).
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx",
                "vnd", "vuv", "xaf", "xof", "xpf"}  # fmt: skip


def money(amount: int, currency: str) -> str:
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    return f"{amount / 100:.2f} {currency.upper()}"


def receipt_text(p: Purchase) -> str:
    assert p.paid_at is not None
    return "\n".join(
        [
            "Thank you for your purchase.",
            "",
            f"Receipt number: {p.id}",
            f"Date: {p.paid_at.strftime('%Y-%m-%d %H:%M UTC')}",
            f"Item: {p.pack_name} ({p.credits} credits)",
            f"Amount paid: {money(p.amount, p.currency)}",
            f"Stripe payment: {p.payment_intent_id or p.checkout_session_id or '-'}",
            "",
            "The credits are in your balance now. Card details were handled by Stripe;",
            "we never see or store them.",
        ]
    )


class Receipts:
    def __init__(self, db: Database, mailer: Mailer, email_of: Callable[[str], str | None]) -> None:
        self.db = db
        self.mailer = mailer
        self.email_of = email_of
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="receipts")

    def send_soon(self, purchase_id: str) -> None:
        """Send in the background so a slow mail server never delays Stripe's webhook answer;
        if the process stops first, `send_due` picks the receipt up."""
        self._background.submit(self.send, purchase_id)

    def send(self, purchase_id: str) -> bool:
        """Send one purchase's receipt unless it went out already; answers whether it was sent."""
        with self.db.session() as s:
            claimed = rowcount(
                s.execute(
                    update(Purchase)
                    .where(
                        Purchase.id == purchase_id,
                        Purchase.receipt_sent_at.is_(None),
                        Purchase.paid_at.is_not(None),
                    )
                    .values(receipt_sent_at=utcnow())
                )
            )
            purchase = s.get(Purchase, purchase_id)
            if purchase is not None:
                s.expunge(purchase)
        if not claimed or purchase is None:
            return False
        try:
            email = self.email_of(purchase.user_id) if purchase.user_id else None
            if email is None:
                log.info("receipt_skipped_no_user", purchase_id=purchase_id)
                return False
            self.mailer.send(
                email,
                f"Your receipt: {purchase.pack_name}",
                receipt_text(purchase),
                kind="receipt",
            )
        except Exception:
            log.exception("receipt_failed", purchase_id=purchase_id)
            with self.db.session() as s:
                s.execute(
                    update(Purchase).where(Purchase.id == purchase_id).values(receipt_sent_at=None)
                )
            return False
        log.info("receipt_sent", purchase_id=purchase_id)
        return True

    def send_due(self, max_age: timedelta = timedelta(days=7)) -> int:
        """Retry receipts that could not go out right after payment."""
        with self.db.session() as s:
            due = list(
                s.scalars(
                    select(Purchase.id).where(
                        Purchase.paid_at.is_not(None),
                        Purchase.receipt_sent_at.is_(None),
                        Purchase.paid_at > utcnow() - max_age,
                    )
                )
            )
        return sum(self.send(purchase_id) for purchase_id in due)


def email_from_auth(auth_stub: object) -> Callable[[str], str | None]:
    """Look the address up in auth (the only owner of emails); None if the user is gone."""

    def lookup(user_id: str) -> str | None:
        try:
            reply = auth_stub.GetUser(auth_pb2.GetUserRequest(user_id=user_id))  # type: ignore[attr-defined]
        except grpc.RpcError as err:
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
                return None
            raise
        return str(reply.user.email) or None

    return lookup
