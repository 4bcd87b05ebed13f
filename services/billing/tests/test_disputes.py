"""Payment disputes claw back the credits of the disputed payment, through signed
`charge.dispute.*` webhooks, once, in any order (issue 13, Low list)."""

from __future__ import annotations

import itertools
import uuid

import pytest

from services.billing.ledger import Ledger
from services.billing.models import Purchase
from services.billing.tests import stripe_fixtures as sf
from services.billing.tests.conftest import new_user
from services.billing.tests.test_webhooks import deliver, hooks, pending_purchase, purchased
from services.billing.webhooks import StripeWebhooks

__all__ = ["hooks"]  # the fixture, used by name


def paid(ledger: Ledger, hooks: StripeWebhooks, intent: str) -> tuple[str, Purchase]:
    user = new_user()
    p = pending_purchase(ledger.db, user)
    assert deliver(hooks, sf.intent_succeeded(p.id, intent, 500)) == "granted"
    return user, p


def status(ledger: Ledger, purchase_id: str) -> str:
    with ledger.db.session() as s:
        found = s.get(Purchase, purchase_id)
        assert found is not None
        return found.status


def test_a_chargeback_takes_the_credits_back_even_if_spent(
    ledger: Ledger, hooks: StripeWebhooks
) -> None:
    user, p = paid(ledger, hooks, "pi_d1")
    ledger.reserve("job-1", user, with_metadata=False, outputs=60)
    opened = sf.dispute("charge.dispute.created", "dp_1", "pi_d1", 500, "needs_response")
    assert deliver(hooks, opened) == "clawed_back"
    assert deliver(hooks, opened) == "duplicate"
    withdrawn = sf.dispute("charge.dispute.funds_withdrawn", "dp_1", "pi_d1", 500, "under_review")
    assert deliver(hooks, withdrawn) == "already_applied"
    assert ledger.balance(user).available == -60  # 100 bought, 60 held, 100 taken back
    assert status(ledger, p.id) == "disputed"
    lost = sf.dispute("charge.dispute.closed", "dp_1", "pi_d1", 500, "lost")
    assert deliver(hooks, lost) == "charged_back"
    assert status(ledger, p.id) == "charged_back" and purchased(ledger, user) == -60


def test_a_dispute_won_gives_the_credits_back_once(ledger: Ledger, hooks: StripeWebhooks) -> None:
    user, p = paid(ledger, hooks, "pi_d2")
    deliver(hooks, sf.dispute("charge.dispute.created", "dp_2", "pi_d2", 250, "needs_response"))
    assert purchased(ledger, user) == 50  # half the payment disputed: half the credits
    won = sf.dispute("charge.dispute.closed", "dp_2", "pi_d2", 250, "won")
    assert deliver(hooks, won) == "restored"
    reinstated = sf.dispute("charge.dispute.funds_reinstated", "dp_2", "pi_d2", 250, "won")
    assert deliver(hooks, reinstated) == "already_applied"
    assert purchased(ledger, user) == 100 and status(ledger, p.id) == "paid"


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_any_order_of_dispute_events_ends_the_same(
    ledger: Ledger, hooks: StripeWebhooks, order: tuple[int, ...]
) -> None:
    user, _ = paid(ledger, hooks, f"pi_{uuid.uuid4().hex[:8]}")
    with ledger.db.session() as s:
        intent = s.get(Purchase, _.id).payment_intent_id  # type: ignore[union-attr]
    assert intent is not None
    events = [
        sf.dispute("charge.dispute.created", "dp_3", intent, 500, "needs_response"),
        sf.dispute("charge.dispute.funds_withdrawn", "dp_3", intent, 500, "under_review"),
        sf.dispute("charge.dispute.closed", "dp_3", intent, 500, "won"),
    ]
    for i in order:
        deliver(hooks, events[i])
    assert purchased(ledger, user) == 100


def test_a_dispute_of_an_unknown_payment_changes_nothing(
    ledger: Ledger, hooks: StripeWebhooks
) -> None:
    user, _ = paid(ledger, hooks, "pi_d4")
    other = sf.dispute("charge.dispute.created", "dp_4", "pi_not_ours", 500, "needs_response")
    assert deliver(hooks, other) == "unknown_purchase"
    assert purchased(ledger, user) == 100
