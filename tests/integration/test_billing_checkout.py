"""Checkout-Session purchases through the running services. localstripe serves no Checkout
Sessions, so billing talks to a recording stand-in on loopback; Stripe's verdicts arrive as
webhooks signed with stripe's own helper, delivered to the gateway in any order and again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from picopt.client import ApiError, Client
from picopt.devstack import Stack
from services.billing.tests import stripe_fixtures as sf
from services.billing.tests.fake_stripe import FakeStripe, serving
from tests.integration.conftest import new_user
from tests.integration.harness import running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    with serving() as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, fake_stripe: FakeStripe) -> Iterator[Stack]:
    env = {
        "STRIPE_API_KEY": "sk_test_recorder",
        "STRIPE_API_BASE": fake_stripe.url,
        "STRIPE_WEBHOOK_SECRET": sf.WEBHOOK_SECRET,
        "BILLING_PURCHASE_MODE": "checkout",
        "PUBLIC_URL": "https://pics.example",
    }
    with running_stack(tmp_path_factory.mktemp("checkout"), extra_env=env) as running:
        yield running


def deliver(stack: Stack, payload: bytes) -> dict[str, object]:
    reply = requests.post(
        f"{stack.gateway_url()}/v1/billing/stripe/webhook",
        data=payload,
        headers={"Stripe-Signature": sf.sign(payload), "Content-Type": "application/json"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_checkout_session_purchase_is_granted_once_whatever_the_order(
    stack: Stack, fake_stripe: FakeStripe
) -> None:
    api = new_user(stack)
    trial = api.balance()["available"]
    started = api.checkout("pack_500")
    assert started["mode"] == "checkout"
    assert started["checkout_url"].startswith("https://checkout.stripe.com/c/pay/cs_test_rec")
    assert started["client_secret"] is None
    session = fake_stripe.requests[-1]
    assert session.path == "/v1/checkout/sessions"
    assert session.form["success_url"] == "https://pics.example/v1/billing/purchases"
    assert session.form["line_items[0][price_data][unit_amount]"] == "2000"
    assert session.form["metadata[purchase_id]"] == started["purchase_id"]
    session_id = started["checkout_url"].rsplit("/", 1)[1]

    pid = started["purchase_id"]
    succeeded = sf.intent_succeeded(pid, "pi_from_checkout", 2000)
    completed = sf.session_completed(pid, session_id, "pi_from_checkout")
    assert deliver(stack, succeeded)["outcome"] == "granted"
    assert deliver(stack, completed)["outcome"] == "already_applied"
    assert deliver(stack, succeeded)["outcome"] == "duplicate"
    assert deliver(stack, sf.session_expired(pid, session_id))["outcome"] == "already_applied"
    balance = api.balance()
    assert (balance["purchased"], balance["available"]) == (500, trial + 500)
    (purchase,) = api.purchases()["purchases"]
    assert purchase["status"] == "paid"
    assert purchase["receipt"]["stripe_payment_id"] == "pi_from_checkout"


def test_abandoned_checkout_expires_and_grants_nothing(
    stack: Stack, fake_stripe: FakeStripe
) -> None:
    api = new_user(stack)
    before = api.balance()
    started = api.checkout("pack_100", idempotency_key=f"k-{uuid.uuid4().hex}")
    session_id = started["checkout_url"].rsplit("/", 1)[1]
    expired = sf.session_expired(started["purchase_id"], session_id)
    assert deliver(stack, expired)["outcome"] == "expired"
    assert api.purchases()["purchases"][0]["status"] == "expired"
    assert api.purchases()["purchases"][0]["receipt"] is None
    assert api.balance() == before


def test_checkout_rejects_unknown_packs_and_reports_stripe_failures(
    stack: Stack, fake_stripe: FakeStripe
) -> None:
    api = new_user(stack)
    with pytest.raises(ApiError) as err:
        api.checkout("pack_nope")
    assert (
        err.value.status == 400 and "pack_100, pack_500, pack_2000" in err.value.problem["detail"]
    )
    fake_stripe.fail_next = 10  # more than the gRPC client's retries of UNAVAILABLE
    with pytest.raises(ApiError) as err:
        api.checkout("pack_100")
    fake_stripe.fail_next = 0
    assert err.value.status == 503
    assert api.purchases()["purchases"] == []  # the failed attempt is not a purchase
    anonymous = Client(stack.gateway_url())
    with pytest.raises(ApiError) as err:
        anonymous.checkout("pack_100")
    assert err.value.status == 401
