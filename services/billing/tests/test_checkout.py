"""The exact requests checkout sends to Stripe, recorded by a small HTTP server on loopback
(localstripe serves no Checkout Sessions), and what we keep of the answers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from picopt.kernel.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.billing.ledger import Ledger
from services.billing.models import Purchase, StripeCustomer
from services.billing.purchases import Purchases
from services.billing.stripe_api import StripeApi, StripeConfig
from services.billing.tests.conftest import new_user
from services.billing.tests.fake_stripe import FakeStripe, serving

API_KEY = "sk_test_recorder"


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with serving() as fake:
        yield fake


def purchases_for(ledger: Ledger, fake: FakeStripe, mode: str) -> Purchases:
    config = StripeConfig(
        api_key=API_KEY,
        webhook_secret="whsec_x",
        api_base=fake.url,
        mode=mode,
        success_url="https://shop.example/done?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="https://shop.example/cancelled",
        tolerance_s=300,
    )
    return Purchases(ledger, StripeApi(config))


def test_checkout_session_request_is_exactly_what_we_mean(
    ledger: Ledger, fake_stripe: FakeStripe
) -> None:
    user = new_user()
    started = purchases_for(ledger, fake_stripe, "checkout").checkout(user, "pack_100", "k1")
    assert started.mode == "checkout"
    assert started.payment.checkout_url == "https://checkout.stripe.com/c/pay/cs_test_rec2"
    customer, session = fake_stripe.requests
    assert (customer.method, customer.path) == ("POST", "/v1/customers")
    assert customer.form == {"metadata[user_id]": user}
    assert customer.headers["Idempotency-Key"] == f"customer-{user}"
    assert customer.headers["Authorization"] == f"Bearer {API_KEY}"
    assert (session.method, session.path) == ("POST", "/v1/checkout/sessions")
    pid = started.purchase_id
    assert session.headers["Idempotency-Key"] == f"purchase-{pid}"
    assert session.form == {
        "mode": "payment",
        "customer": "cus_rec1",
        "client_reference_id": pid,
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "500",
        "line_items[0][price_data][product_data][name]": "100 credits",
        "metadata[purchase_id]": pid,
        "metadata[user_id]": user,
        "metadata[pack_id]": "pack_100",
        "payment_intent_data[metadata][purchase_id]": pid,
        "payment_intent_data[metadata][user_id]": user,
        "payment_intent_data[metadata][pack_id]": "pack_100",
        "success_url": "https://shop.example/done?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.example/cancelled",
    }
    with ledger.db.session() as s:
        p = s.get(Purchase, pid)
        assert p is not None
        assert (p.status, p.checkout_session_id, p.stripe_customer_id) == (
            "pending",
            "cs_test_rec2",
            "cus_rec1",
        )
        assert (p.credits, p.amount, p.currency) == (100, 500, "eur")
        assert s.get(StripeCustomer, user).customer_id == "cus_rec1"  # type: ignore[union-attr]


def test_repeated_request_key_answers_the_same_purchase_without_a_new_session(
    ledger: Ledger, fake_stripe: FakeStripe
) -> None:
    user = new_user()
    purchases = purchases_for(ledger, fake_stripe, "checkout")
    first = purchases.checkout(user, "pack_100", "same-key")
    again = purchases.checkout(user, "pack_100", "same-key")
    assert again.purchase_id == first.purchase_id
    assert again.payment.checkout_url == first.payment.checkout_url
    assert [(r.method, r.path) for r in fake_stripe.requests] == [
        ("POST", "/v1/customers"),
        ("POST", "/v1/checkout/sessions"),
        ("GET", "/v1/checkout/sessions/cs_test_rec2"),
    ]
    with pytest.raises(InvalidArgument, match="another pack"):
        purchases.checkout(user, "pack_500", "same-key")
    # A second purchase reuses the customer.
    purchases.checkout(user, "pack_500", "other-key")
    assert [r.path for r in fake_stripe.requests].count("/v1/customers") == 1


def test_payment_intent_mode_sends_amount_currency_customer_and_metadata_only(
    ledger: Ledger, fake_stripe: FakeStripe
) -> None:
    user = new_user()
    started = purchases_for(ledger, fake_stripe, "payment_intent").checkout(user, "pack_500")
    assert started.payment.client_secret == "pi_rec2_secret"
    intent = fake_stripe.requests[-1]
    assert intent.path == "/v1/payment_intents"
    assert intent.headers["Idempotency-Key"] == f"purchase-{started.purchase_id}"
    assert intent.form == {
        "amount": "2000",
        "currency": "eur",
        "customer": "cus_rec1",
        "metadata[purchase_id]": started.purchase_id,
        "metadata[user_id]": user,
        "metadata[pack_id]": "pack_500",
    }
    with ledger.db.session() as s:
        p = s.get(Purchase, started.purchase_id)
        assert p is not None and p.payment_intent_id == "pi_rec2"


def test_unknown_pack_and_unconfigured_payments_are_clear_errors(
    ledger: Ledger, fake_stripe: FakeStripe
) -> None:
    purchases = purchases_for(ledger, fake_stripe, "checkout")
    with pytest.raises(InvalidArgument, match="pack_100, pack_500"):
        purchases.checkout(new_user(), "pack_nope")
    unconfigured = Purchases(ledger, StripeApi(StripeConfig("", "", "", "checkout", "", "", 300)))
    with pytest.raises(FailedPrecondition) as err:
        unconfigured.checkout(new_user(), "pack_100")
    assert err.value.code == "payments_not_configured"
    assert fake_stripe.requests == []
    with ledger.db.session() as s:
        assert list(s.scalars(select(Purchase))) == []


def test_stripe_failure_is_unavailable_marks_the_attempt_failed_and_the_retry_works(
    ledger: Ledger, fake_stripe: FakeStripe
) -> None:
    user = new_user()
    purchases = purchases_for(ledger, fake_stripe, "checkout")
    purchases.checkout(user, "pack_500")  # the customer exists; the next call is the session
    fake_stripe.fail_next = 1
    with pytest.raises(Unavailable):
        purchases.checkout(user, "pack_100", "retry-key")
    retried = purchases.checkout(user, "pack_100", "retry-key")
    with ledger.db.session() as s:
        statuses = sorted(p.status for p in s.scalars(select(Purchase)))
    assert statuses == ["failed", "pending", "pending"]
    assert retried.payment.checkout_url
    assert uuid.UUID(retried.purchase_id)
