"""Erasure deletes the Stripe customer, and waits (raises, commits nothing) while Stripe is down."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from picopt.devstack import free_port
from picopt.kernel.db import Database
from picopt.kernel.errors import Unavailable
from picopt.kernel.messaging import Outbox
from services.billing.models import Purchase, StripeCustomer
from services.billing.privacy import BillingPrivacy
from services.billing.stripe_api import StripeApi, StripeConfig


def config(api_key: str, api_base: str) -> StripeConfig:
    return StripeConfig(api_key, "", api_base, "payment_intent", "", "", 300)


def test_erasure_fails_and_keeps_the_link_while_stripe_is_unreachable(db: Database) -> None:
    unreachable = StripeApi(config("sk_test_x", f"http://127.0.0.1:{free_port()}"))
    privacy = BillingPrivacy(db, Outbox("billing"), unreachable)
    with db.session() as s:
        s.add(StripeCustomer(user_id="u1", customer_id="cus_1", created_at=datetime.now(UTC)))
    with pytest.raises(Unavailable), db.session() as s:
        privacy.erase(s, "u1")
    with db.session(readonly=True) as s:
        assert s.scalars(select(StripeCustomer.customer_id)).all() == ["cus_1"]


def test_erasure_without_stripe_configured_waits_only_if_a_customer_exists(db: Database) -> None:
    privacy = BillingPrivacy(db, Outbox("billing"), StripeApi(config("", "")))
    with db.session() as s:
        assert privacy.erase(s, "nobody")["stripe_customers"] == 0
        s.add(StripeCustomer(user_id="u2", customer_id="cus_2", created_at=datetime.now(UTC)))
    with pytest.raises(Unavailable), db.session() as s:
        privacy.erase(s, "u2")


def test_erasure_waits_while_a_payment_at_stripe_still_names_the_user(db: Database) -> None:
    privacy = BillingPrivacy(db, Outbox("billing"), StripeApi(config("", "")))
    now = datetime.now(UTC)
    with db.session() as s:
        s.add(
            Purchase(
                id="p1",
                user_id="u3",
                pack_id="pack_100",
                pack_name="100 credits",
                credits=100,
                amount=500,
                currency="eur",
                mode="payment_intent",
                status="paid",
                request_key="u3:buy-once",
                payment_intent_id="pi_1",
                created_at=now,
                paid_at=now,
            )
        )
    with pytest.raises(Unavailable), db.session() as s:
        privacy.erase(s, "u3")
    with db.session(readonly=True) as s:
        assert s.scalars(select(Purchase.user_id)).all() == ["u3"]
