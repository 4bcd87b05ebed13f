"""Billing's tables: an append-only credit ledger, per-job reservations and purchases.

Only Stripe ids are stored about payments: no card data, no email, no name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

GRANTED, PURCHASED = "granted", "purchased"


class Base(DeclarativeBase):
    pass


class Account(Base):
    """One row per user; locking it serializes that user's balance changes."""

    __tablename__ = "accounts"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LedgerEntry(Base):
    """Append-only. Balance is the sum of `credits`; `idem_key` makes every write happen once.

    kinds and signs: grant +n, purchase +n, refund -n, adjust +/-n, reserve -n,
    release +n, capture 0 (the reserved credits become spent), expire -n, dispute -n
    (a chargeback), dispute_won +n (the same credits back when the dispute is won).
    `bucket` keeps granted credits (trial, staff) apart from purchased ones; only
    granted credits can expire (`expires_at` on their grant entry).
    """

    __tablename__ = "ledger_entries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    bucket: Mapped[str] = mapped_column(String(16), default=GRANTED)
    credits: Mapped[int] = mapped_column(BigInteger)
    job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    purchase_id: Mapped[str | None] = mapped_column(String(36), index=True, default=None)
    reason: Mapped[str] = mapped_column(String(200), default="")
    idem_key: Mapped[str] = mapped_column(String(120), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Reservation(Base):
    """State of one job's hold: reserved -> captured | released.

    `granted_credits` of `credits` came from the granted bucket, the rest from purchases,
    so a release gives each bucket back exactly what it lent.
    """

    __tablename__ = "reservations"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    credits: Mapped[int] = mapped_column(BigInteger)
    granted_credits: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the hold paid for: `outputs` optimized images at `output_credits` each (0 for holds
    # made before this was recorded: nothing is refunded for those).
    outputs: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    output_credits: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Purchase(Base):
    """One attempt to buy a pack: pending -> paid | expired | failed; refunds reverse credits.

    The pack's name, credits, amount and currency are copied at checkout so a
    receipt and a refund stay right after the pricing file changes.
    """

    __tablename__ = "purchases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(36), index=True)
    pack_id: Mapped[str] = mapped_column(String(40))
    pack_name: Mapped[str] = mapped_column(String(100))
    credits: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    request_key: Mapped[str | None] = mapped_column(String(120), unique=True, default=None)
    stripe_customer_id: Mapped[str] = mapped_column(String(255), default="")
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    # Credits an open or lost payment dispute took back (services/billing/disputes.py).
    credits_disputed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    receipt_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class StripeCustomer(Base):
    """The Stripe customer created lazily for a user at their first checkout."""

    __tablename__ = "stripe_customers"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StripeEvent(Base):
    """Every verified webhook event id, once: the unique key makes redeliveries no-ops."""

    __tablename__ = "stripe_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(40))
    purchase_id: Mapped[str | None] = mapped_column(String(36), index=True, default=None)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class TrialClaim(Base):
    """Trial credits go to one account per verified email (an HMAC digest, never the address)."""

    __tablename__ = "trial_claims"

    email_digest: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(36), index=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
