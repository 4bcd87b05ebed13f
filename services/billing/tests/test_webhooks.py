"""Webhook verdicts against PostgreSQL: signed with stripe's helper, replayed, reordered,
tampered with, stale and concurrent; each event changes the ledger exactly once."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from picopt.kernel.db import Database, utcnow
from picopt.kernel.errors import InvalidArgument
from services.billing.ledger import Ledger
from services.billing.models import LedgerEntry, Purchase, StripeEvent
from services.billing.purchases import Purchases
from services.billing.stripe_api import StripeApi, StripeConfig
from services.billing.tests import stripe_fixtures as sf
from services.billing.tests.conftest import new_user
from services.billing.webhooks import StripeWebhooks


def config(mode: str = "checkout") -> StripeConfig:
    return StripeConfig(
        api_key="",
        webhook_secret=sf.WEBHOOK_SECRET,
        api_base="",
        mode=mode,
        success_url="https://shop.example/done",
        cancel_url="https://shop.example/cancel",
        tolerance_s=300,
    )


@pytest.fixture
def hooks(ledger: Ledger) -> StripeWebhooks:
    api = StripeApi(config())
    return StripeWebhooks(Purchases(ledger, api), api)


def pending_purchase(db: Database, user_id: str, credits: int = 100, amount: int = 500) -> Purchase:
    """A purchase as checkout leaves it: committed, with its Stripe session id."""
    purchase = Purchase(
        id=str(uuid.uuid4()),
        user_id=user_id,
        pack_id="pack_100",
        pack_name="100 credits",
        credits=credits,
        amount=amount,
        currency="eur",
        mode="checkout",
        status="pending",
        stripe_customer_id="cus_test",
        checkout_session_id=f"cs_test_{uuid.uuid4().hex[:16]}",
        amount_refunded=0,
        credits_reversed=0,
        created_at=utcnow(),
    )
    with db.session() as s:
        s.add(purchase)
    return purchase


def deliver(hooks: StripeWebhooks, payload: bytes) -> str:
    return hooks.handle(payload, sf.sign(payload)).outcome


def purchased(ledger: Ledger, user_id: str) -> int:
    return ledger.balance(user_id).purchased


def test_checkout_completed_grants_once_and_redelivery_is_a_no_op(
    ledger: Ledger, hooks: StripeWebhooks
) -> None:
    user = new_user()
    p = pending_purchase(ledger.db, user)
    payload = sf.session_completed(p.id, p.checkout_session_id or "", "pi_1")
    assert deliver(hooks, payload) == "granted"
    assert deliver(hooks, payload) == "duplicate"
    assert deliver(hooks, sf.intent_succeeded(p.id, "pi_1", 500)) == "already_applied"
    assert purchased(ledger, user) == 100
    with ledger.db.session() as s:
        stored = s.get(Purchase, p.id)
        assert stored is not None
        assert (stored.status, stored.payment_intent_id) == ("paid", "pi_1")
        assert s.scalar(select(func.count()).select_from(StripeEvent)) == 2


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_any_order_of_payment_refund_and_repeat_ends_the_same(
    ledger: Ledger, hooks: StripeWebhooks, order: tuple[int, ...]
) -> None:
    """Session completed, intent succeeded and a full refund, in every order: 0 credits left,
    one purchase entry, one refund entry."""
    user = new_user()
    p = pending_purchase(ledger.db, user)
    events = [
        sf.session_completed(p.id, p.checkout_session_id or "", "pi_9"),
        sf.intent_succeeded(p.id, "pi_9", 500),
        sf.charge_refunded(p.id, "pi_9", 500, 500),
    ]
    for i in order:
        deliver(hooks, events[i])
    for i in order:  # and everything once more
        assert deliver(hooks, events[i]) == "duplicate"
    assert purchased(ledger, user) == 0
    kinds = sorted(e.kind for e in ledger.entries(user))
    assert kinds == ["purchase", "refund"]
    with ledger.db.session() as s:
        stored = s.get(Purchase, p.id)
        assert stored is not None and stored.status == "refunded"


def test_partial_refunds_reverse_proportionally_and_cumulatively(
    ledger: Ledger, hooks: StripeWebhooks
) -> None:
    user = new_user()
    p = pending_purchase(ledger.db, user, credits=100, amount=500)
    deliver(hooks, sf.intent_succeeded(p.id, "pi_p", 500))
    assert deliver(hooks, sf.charge_refunded(p.id, "pi_p", 500, 100)) == "reversed"
    assert purchased(ledger, user) == 80
    # Stripe reports the cumulative refunded amount; an older event arriving late changes nothing.
    assert deliver(hooks, sf.charge_refunded(p.id, "pi_p", 500, 250)) == "reversed"
    assert deliver(hooks, sf.charge_refunded(p.id, "pi_p", 500, 100)) == "already_applied"
    assert purchased(ledger, user) == 50


def test_refund_of_spent_credits_leaves_a_negative_balance_that_blocks_jobs(
    ledger: Ledger, hooks: StripeWebhooks
) -> None:
    user = new_user()
    p = pending_purchase(ledger.db, user, credits=10, amount=500)
    deliver(hooks, sf.intent_succeeded(p.id, "pi_s", 500))
    job = str(uuid.uuid4())
    ledger.reserve(job, user, with_metadata=False, outputs=8)
    deliver(hooks, sf.charge_refunded(p.id, "pi_s", 500, 500))
    assert ledger.balance(user).available == -8
    assert sum(e.credits for e in ledger.entries(user)) == -8


def test_expired_session_closes_a_pending_purchase_but_never_a_paid_one(
    ledger: Ledger, hooks: StripeWebhooks
) -> None:
    user = new_user()
    p = pending_purchase(ledger.db, user)
    assert deliver(hooks, sf.session_expired(p.id, p.checkout_session_id or "")) == "expired"
    q = pending_purchase(ledger.db, user)
    deliver(hooks, sf.session_completed(q.id, q.checkout_session_id or "", "pi_q"))
    assert (
        deliver(hooks, sf.session_expired(q.id, q.checkout_session_id or "")) == "already_applied"
    )
    with ledger.db.session() as s:
        assert s.get(Purchase, p.id).status == "expired"  # type: ignore[union-attr]
        assert s.get(Purchase, q.id).status == "paid"  # type: ignore[union-attr]
    assert purchased(ledger, user) == 100


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda body, sig: (body.replace(b'"paid"', b'"PAID"'), sig), id="tampered"),
        pytest.param(lambda body, sig: (body, sf.sign(body, secret="whsec_wrong")), id="wrong"),
        pytest.param(
            lambda body, sig: (body, sf.sign(body, at=int(time.time()) - 3600)), id="stale"
        ),
        pytest.param(lambda body, sig: (body, ""), id="missing"),
        pytest.param(lambda body, sig: (body, "t=abc,v1=zz"), id="garbled"),
    ],
)
def test_bad_or_stale_signatures_are_rejected_and_change_nothing(
    ledger: Ledger,
    hooks: StripeWebhooks,
    mangle: Callable[[bytes, str], tuple[bytes, str]],
) -> None:
    user = new_user()
    p = pending_purchase(ledger.db, user)
    payload = sf.session_completed(p.id, p.checkout_session_id or "", "pi_x")
    body, signature = mangle(payload, sf.sign(payload))
    with pytest.raises(InvalidArgument) as err:
        hooks.handle(body, signature)
    assert err.value.code == "invalid_signature"
    assert purchased(ledger, user) == 0
    with ledger.db.session() as s:
        assert s.scalar(select(func.count()).select_from(StripeEvent)) == 0
    # The genuine delivery still works afterwards.
    assert deliver(hooks, payload) == "granted"


def test_signed_but_malformed_bodies_are_rejected(hooks: StripeWebhooks) -> None:
    for body in (b"not json", b"[1, 2]", b'{"id": "evt_1", "type": "x"}'):
        with pytest.raises(InvalidArgument) as err:
            hooks.handle(body, sf.sign(body))
        assert err.value.code == "invalid_payload"


def test_unknown_purchases_and_other_event_types_are_acknowledged_without_effect(
    ledger: Ledger, hooks: StripeWebhooks
) -> None:
    assert deliver(hooks, sf.intent_succeeded(str(uuid.uuid4()), "pi_u", 500)) == (
        "unknown_purchase"
    )
    assert deliver(hooks, sf.event("customer.created", {"id": "cus_1"})) == "ignored"
    with ledger.db.session() as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_event_whose_ids_disagree_with_the_purchase_grants_nothing(
    ledger: Ledger, hooks: StripeWebhooks
) -> None:
    user = new_user()
    p = pending_purchase(ledger.db, user)
    forged = sf.session_completed(p.id, "cs_someone_else", "pi_f")
    assert deliver(hooks, forged) == "unknown_purchase"
    assert purchased(ledger, user) == 0


def test_concurrent_deliveries_of_one_event_apply_it_once(
    ledger: Ledger, hooks: StripeWebhooks
) -> None:
    user = new_user()
    p = pending_purchase(ledger.db, user)
    payload = sf.session_completed(p.id, p.checkout_session_id or "", "pi_c")
    signature = sf.sign(payload)
    start = threading.Barrier(12)

    def once(_: int) -> str:
        start.wait()
        return hooks.handle(payload, signature).outcome

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(once, range(12)))
    assert outcomes.count("granted") == 1
    assert set(outcomes) == {"granted", "duplicate"}
    assert purchased(ledger, user) == 100


def test_abandoned_purchases_expire_and_a_late_payment_still_counts(
    ledger: Ledger, hooks: StripeWebhooks
) -> None:
    user = new_user()
    p = pending_purchase(ledger.db, user)
    assert hooks.purchases.expire_stale(timedelta(hours=1)) == 0
    assert hooks.purchases.expire_stale(timedelta(seconds=-1)) == 1
    assert hooks.purchases.get(p.id).status == "expired"
    assert deliver(hooks, sf.intent_succeeded(p.id, "pi_late", 500)) == "granted"
    assert hooks.purchases.get(p.id).status == "paid"
    assert purchased(ledger, user) == 100
