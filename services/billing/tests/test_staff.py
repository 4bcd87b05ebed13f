"""Staff operations need the billing staff token (issue 13 item 8): reaching billing's port
is not enough to mint credits or list every purchase against Stripe."""

from __future__ import annotations

from typing import Any

import pytest

from picopt.billing.v1 import billing_pb2
from picopt.kernel.errors import Unauthenticated
from picopt.kernel.staff import staff_metadata
from services.billing.grpc_api import BillingServicer
from services.billing.ledger import Ledger
from services.billing.tests.conftest import new_user

TOKEN = "billing-staff-s3cret"


class _Context:
    def __init__(self, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self.metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata


def servicer(ledger: Ledger) -> BillingServicer:
    return BillingServicer(ledger, purchases=None, webhooks=None, staff_token=TOKEN)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "sent",
    [(), staff_metadata("a guess"), (("authorization", TOKEN),), staff_metadata("")],
    ids=["none", "wrong", "no-scheme", "empty"],
)
def test_adjusting_credits_or_reconciling_without_the_staff_token_is_refused(
    ledger: Ledger, sent: tuple[tuple[str, str], ...]
) -> None:
    user = new_user()
    adjust = billing_pb2.AdjustCreditsRequest(user_id=user, credits=1000, reason="free money")
    with pytest.raises(Unauthenticated) as refused:
        servicer(ledger).AdjustCredits(adjust, _Context(sent))
    assert refused.value.code == "staff_token_required"
    with pytest.raises(Unauthenticated):
        servicer(ledger).Reconcile(billing_pb2.ReconcileRequest(), _Context(sent))
    assert ledger.balance(user).available == 0


def test_staff_with_the_token_adjust_credits(ledger: Ledger) -> None:
    user = new_user()
    adjust = billing_pb2.AdjustCreditsRequest(user_id=user, credits=7, reason="goodwill")
    reply: Any = servicer(ledger).AdjustCredits(adjust, _Context(staff_metadata(TOKEN)))
    assert reply.available == 7


def test_no_token_configured_refuses_everyone(ledger: Ledger) -> None:
    empty = BillingServicer(ledger, purchases=None, webhooks=None, staff_token="")  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated):
        empty.AdjustCredits(
            billing_pb2.AdjustCreditsRequest(user_id=new_user(), credits=1, reason="x"),
            _Context(staff_metadata("")),
        )
