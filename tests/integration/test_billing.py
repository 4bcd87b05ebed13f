"""Billing through the real services: trial on a confirmed email, a PaymentIntent purchase
against localstripe with its webhooks delivered to our gateway, refunds and reconciliation,
signed webhook intake, 402 without credits, usage pages, staff CLI and 50+ concurrent
reservations against PostgreSQL."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes
from typing import Any

import grpc
import pytest
import requests
import stripe

from picopt.billing.v1 import billing_pb2, billing_pb2_grpc
from picopt.client import ApiError, Client
from picopt.demo import mail_text
from picopt.devstack import Stack
from picopt.kernel.errors import error_code
from picopt.kernel.staff import staff_metadata
from picopt.samples import graphic_png
from picopt_cli import main as picopt_main
from services.billing.tests import stripe_fixtures as sf
from tests.integration.conftest import mail_dir, wait_for
from tests.integration.harness import (
    LOCALSTRIPE_KEY,
    deliver_stripe_webhooks,
    pay_with_test_card,
    running_localstripe,
    running_stack,
)

pytestmark = pytest.mark.integration

STRIPE_KEY = LOCALSTRIPE_KEY
TRIAL = 3
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """localstripe on a free loopback port, from scratch, for this module only."""
    with running_localstripe(tmp_path_factory.mktemp("localstripe")) as url:
        yield url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, localstripe: str) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    env = {
        "STRIPE_API_KEY": STRIPE_KEY,
        "STRIPE_API_BASE": localstripe,
        "STRIPE_WEBHOOK_SECRET": sf.WEBHOOK_SECRET,
        "BILLING_PURCHASE_MODE": "payment_intent",
        "BILLING_TRIAL_CREDITS": str(TRIAL),
    }
    with running_stack(tmp, extra_env=env) as running:
        deliver_stripe_webhooks(localstripe, running.gateway_url(), sf.WEBHOOK_SECRET)
        yield running


@pytest.fixture(scope="module")
def stripe_client(localstripe: str) -> stripe.StripeClient:
    return stripe.StripeClient(STRIPE_KEY, base_addresses={"api": localstripe})


@pytest.fixture
def staff(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[str, str], ...]:
    """The billing staff token, where `picopt billing` reads it; returned as call metadata."""
    monkeypatch.setenv("BILLING_STAFF_TOKEN", stack.env["BILLING_STAFF_TOKEN"])
    return staff_metadata(stack.env["BILLING_STAFF_TOKEN"])


def billing_stub(stack: Stack) -> Any:
    return billing_pb2_grpc.BillingServiceStub(grpc.insecure_channel(stack.grpc_address("billing")))


def mailed(stack: Stack, to: str, pattern: str) -> str:
    """The first line matching `pattern` in a message to `to` written by the file transport."""

    def find() -> str | None:
        for path in mail_dir(stack).glob("*.eml"):
            message = message_from_bytes(path.read_bytes())
            if message["To"] != to:
                continue
            body = mail_text(message)
            match = re.search(pattern, body, re.M)
            if match:
                return body if match.lastindex is None else match.group(1)
        return None

    return str(wait_for(find, what=f"mail matching {pattern!r}"))


def signed_up(stack: Stack) -> tuple[Client, str, str]:
    """(API-key client, email, user id) of a confirmed account (its trial follows)."""
    web = Client(stack.gateway_url())
    email = f"bill-{uuid.uuid4().hex[:10]}@example.test"
    web.signup("Bill Payer", email, PASSWORD)
    web.confirm(mailed(stack, email, r"^Token: (\S+)$"))
    web.login(email, PASSWORD)
    api = Client(stack.gateway_url(), api_key=web.create_api_key("billing"))
    return api, email, str(api.account()["id"])


def test_trial_arrives_with_the_confirmation_and_packs_are_public(stack: Stack) -> None:
    packs = Client(stack.gateway_url()).packs()
    assert [p["id"] for p in packs["packs"]] == ["pack_100", "pack_500", "pack_2000"]
    assert (packs["image_cost"], packs["metadata_cost"], packs["currency"]) == (1, 1, "eur")

    api, _, _ = signed_up(stack)  # the trial is granted on confirmation
    balance = wait_for(lambda: api.balance()["granted"] == TRIAL and api.balance())
    assert (balance["available"], balance["purchased"]) == (TRIAL, 0)


def test_payment_intent_purchase_through_localstripe_then_refund_and_reconcile(
    stack: Stack,
    stripe_client: stripe.StripeClient,
    capsys: pytest.CaptureFixture[str],
    staff: object,
) -> None:
    api, email, _ = signed_up(stack)
    wait_for(lambda: api.balance()["available"] == TRIAL, what="trial credits")
    started = api.checkout("pack_100", idempotency_key="buy-once")
    assert started["mode"] == "payment_intent" and started["client_secret"]
    assert api.checkout("pack_100", idempotency_key="buy-once") == started
    intent_id = started["payment_intent_id"]

    pay_with_test_card(stripe_client, intent_id)

    # localstripe posts payment_intent.succeeded to our gateway; billing grants once.
    wait_for(lambda: api.balance()["purchased"] == 100, what="purchased credits")
    (purchase,) = api.purchases()["purchases"]
    assert (purchase["status"], purchase["credits"], purchase["amount"]) == ("paid", 100, 500)
    assert purchase["receipt"]["stripe_payment_id"] == intent_id
    receipt = mailed(stack, email, rf"^Receipt number: {purchase['id']}$")
    assert "5.00 EUR" in receipt and "4242" not in receipt
    wait_for(lambda: api.purchases()["purchases"][0]["receipt"]["emailed"], what="receipt flag")

    address = ["billing", "--billing-addr", stack.grpc_address("billing")]
    assert picopt_main([*address, "reconcile"]) == 0
    assert "0 mismatches" in capsys.readouterr().out

    # A refund at Stripe that never reached us is what reconciliation is for.
    stripe_client.v1.refunds.create(params={"payment_intent": intent_id})
    assert picopt_main([*address, "reconcile", "--json"]) == 1
    assert '"kind": "refund_not_reversed"' in capsys.readouterr().out

    # Stripe's charge.refunded, signed with the endpoint secret, reverses the credits once.
    refund = sf.charge_refunded(purchase["id"], intent_id, 500, 500)
    hook = f"{stack.gateway_url()}/v1/billing/stripe/webhook"
    for _ in range(2):
        reply = requests.post(hook, data=refund, headers={"Stripe-Signature": sf.sign(refund)})
        assert reply.status_code == 200, reply.text
    assert reply.json() == {"received": True, "outcome": "duplicate"}
    balance = api.balance()
    assert (balance["purchased"], balance["available"]) == (0, TRIAL)
    assert api.purchases()["purchases"][0]["status"] == "refunded"
    assert picopt_main([*address, "reconcile"]) == 0
    capsys.readouterr()


def test_webhook_intake_rejects_tampered_stale_and_unsigned_deliveries(stack: Stack) -> None:
    hook = f"{stack.gateway_url()}/v1/billing/stripe/webhook"
    payload = sf.intent_succeeded(str(uuid.uuid4()), "pi_nobody", 500)
    cases = {
        "tampered": (payload.replace(b"500", b"900"), sf.sign(payload)),
        "stale": (payload, sf.sign(payload, at=int(time.time()) - 3600)),
        "wrong secret": (payload, sf.sign(payload, secret="whsec_other")),
        "unsigned": (payload, ""),
    }
    for name, (body, signature) in cases.items():
        headers = {"Stripe-Signature": signature} if signature else {}
        reply = requests.post(hook, data=body, headers=headers, timeout=10)
        assert reply.status_code == 400, name
        assert reply.headers["Content-Type"] == "application/problem+json"
        assert reply.json()["type"].endswith("/invalid-signature"), name
    genuine = requests.post(hook, data=payload, headers={"Stripe-Signature": sf.sign(payload)})
    assert genuine.json() == {"received": True, "outcome": "unknown_purchase"}


def test_insufficient_credits_answers_402_and_creates_no_job(stack: Stack) -> None:
    api, _, _ = signed_up(stack)
    wait_for(lambda: api.balance()["available"] == TRIAL, what="trial credits")
    with pytest.raises(ApiError) as err:
        api.submit(graphic_png(), filename="g.png", metadata=True, widths=[64, 128, 256])
    assert err.value.status == 402
    assert err.value.problem["type"].endswith("insufficient-credits")
    assert "needs 4 credits; 3 available" in err.value.problem["detail"]
    assert api.jobs()["jobs"] == []
    assert api.balance() == {"available": TRIAL, "reserved": 0, "granted": TRIAL, "purchased": 0}


def test_widths_that_collapse_into_one_output_are_not_charged(stack: Stack) -> None:
    """A 640 px image asked for at 320, 1000 and 2000 px makes two variants (320 and one
    full-size copy) beside the main result: three credits held, two captured, one back."""
    api, _, _ = signed_up(stack)
    wait_for(lambda: api.balance()["available"] == TRIAL, what="trial credits")
    submitted = api.submit(
        graphic_png(), filename="g.png", metadata=False, widths=[320, 1000, 2000]
    )
    job = api.wait(submitted["id"])
    assert job["status"] == "done"
    assert [v["width"] for v in job["variants"]] == [640, 320, 640]
    wait_for(lambda: api.balance()["reserved"] == 0, what="the capture")
    assert api.balance()["available"] == TRIAL - 2
    (item,) = api.usage(limit=10)["items"]
    assert item["credits"] == 2


def test_usage_lists_captured_jobs_per_job_and_per_day(stack: Stack) -> None:
    api, _, _ = signed_up(stack)
    wait_for(lambda: api.balance()["available"] == TRIAL, what="trial credits")
    jobs = [api.submit(graphic_png(), filename="g.png", metadata=False)["id"] for _ in range(2)]
    for job_id in jobs:
        assert api.wait(job_id)["status"] == "done"
    wait_for(lambda: len(api.usage(limit=10)["items"]) == 2, what="captures")
    first = api.usage(limit=1)
    second = api.usage(limit=1, cursor=first["next_cursor"])
    assert {first["items"][0]["job_id"], second["items"][0]["job_id"]} == set(jobs)
    assert second["next_cursor"] is None
    (day,) = api.usage(group="day")["items"]
    assert (day["credits"], day["jobs"]) == (2, 2)
    with pytest.raises(ApiError) as err:
        api.usage(cursor="not-a-cursor")
    assert err.value.status == 400
    with pytest.raises(ApiError) as err:
        api.usage(group="week")
    assert err.value.status == 400
    assert api.balance()["available"] == TRIAL - 2


def test_staff_adjustments_show_in_the_ledger(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id = str(uuid.uuid4())
    address = ["billing", "--billing-addr", stack.grpc_address("billing")]
    monkeypatch.setenv("BILLING_STAFF_TOKEN", "a guess")
    assert picopt_main([*address, "adjust", user_id, "7", "--reason", "free"]) == 2
    assert "staff_token_required" in capsys.readouterr().err
    monkeypatch.setenv("BILLING_STAFF_TOKEN", stack.env["BILLING_STAFF_TOKEN"])
    assert (
        picopt_main([*address, "adjust", user_id, "7", "--reason", "goodwill", "--key", "k1"]) == 0
    )
    assert (
        picopt_main([*address, "grant", user_id, "7", "--reason", "goodwill", "--key", "k1"]) == 0
    )
    assert "available=7" in capsys.readouterr().out
    assert picopt_main([*address, "adjust", user_id, "-9", "--reason", "oops"]) == 2
    assert "failed_precondition" in capsys.readouterr().err
    assert picopt_main([*address, "ledger", user_id]) == 0
    out = capsys.readouterr().out
    assert "goodwill" in out and "balance 7 in 1 entries" in out


def test_sixty_concurrent_reservations_never_overspend(
    stack: Stack, staff: tuple[tuple[str, str], ...]
) -> None:
    """60 parallel 2-credit jobs against 100 credits through billing's gRPC API."""
    stub = billing_stub(stack)
    user_id = str(uuid.uuid4())
    stub.AdjustCredits(
        billing_pb2.AdjustCreditsRequest(
            user_id=user_id, credits=100, reason="test", idempotency_key="c"
        ),
        metadata=staff,
    )
    start = threading.Barrier(60)

    def reserve(_: int) -> str:
        start.wait()
        try:
            stub.Reserve(
                billing_pb2.ReserveRequest(
                    job_id=str(uuid.uuid4()), user_id=user_id, with_metadata=True, outputs=1
                ),
                timeout=30,
            )
        except grpc.RpcError as err:
            return error_code(err)
        return "reserved"

    with ThreadPoolExecutor(max_workers=60) as pool:
        outcomes = list(pool.map(reserve, range(60)))
    assert outcomes.count("reserved") == 50
    assert outcomes.count("insufficient_credits") == 10
    balance = stub.GetBalance(billing_pb2.GetBalanceRequest(user_id=user_id))
    assert (balance.available, balance.reserved) == (0, 100)


def test_billing_routes_are_in_the_openapi_document(stack: Stack) -> None:
    paths = requests.get(f"{stack.gateway_url()}/v1/openapi.json", timeout=10).json()["paths"]
    for path, method in [
        ("/v1/billing/balance", "get"),
        ("/v1/billing/packs", "get"),
        ("/v1/billing/checkout", "post"),
        ("/v1/billing/purchases", "get"),
        ("/v1/billing/stripe/webhook", "post"),
        ("/v1/usage", "get"),
    ]:
        assert method in paths[path], path
    assert "402" in paths["/v1/jobs"]["post"]["responses"]
