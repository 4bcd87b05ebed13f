"""Payment disputes (chargebacks): the credits of a disputed payment go with the money.

When a buyer disputes a card payment, Stripe takes the disputed amount back at once
(`charge.dispute.created`, `charge.dispute.funds_withdrawn`). The purchased credits of
that share are debited from the buyer, spent or not (the balance may go negative and
blocks new jobs, as with a refund), once per dispute. A dispute won (`closed` with status
`won` or `warning_closed`, or `funds_reinstated`) gives exactly those credits back; a lost
one leaves the purchase `charged_back`. Every step is keyed by the dispute id in the
ledger, so redeliveries and any order of events change nothing twice.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from picopt.kernel.db import utcnow
from picopt.kernel.logs import get_logger
from services.billing.ledger import Ledger
from services.billing.models import PURCHASED, Purchase

log = get_logger(__name__)

WON = ("won", "warning_closed")


class Disputes:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def opened(self, s: Session, purchase: Purchase, dispute_id: str, amount: int) -> str:
        """Take back the credits of the disputed share of a paid purchase."""
        if purchase.user_id is None:
            return "erased_user"
        self.ledger.lock_account(s, purchase.user_id)
        s.refresh(purchase)
        if purchase.paid_at is None:
            return "dispute_before_payment"
        share = purchase.credits * min(max(amount, 0), purchase.amount) // purchase.amount
        left = purchase.credits - purchase.credits_reversed - purchase.credits_disputed
        credits = min(share, left)
        settled = self.ledger.credits_of(s, _returned(dispute_id)) is not None
        if credits <= 0 or settled or self.ledger.credits_of(s, _taken(dispute_id)) is not None:
            return "already_applied"
        self.ledger.debit(
            s,
            purchase.user_id,
            credits,
            _taken(dispute_id),
            f"payment disputed: pack {purchase.pack_id}",
            kind="dispute",
            bucket=PURCHASED,
            purchase_id=purchase.id,
        )
        purchase.credits_disputed += credits
        if purchase.status != "charged_back":
            purchase.status = "disputed"
        log.info("purchase_disputed", purchase_id=purchase.id, credits=credits)
        return "clawed_back"

    def closed(self, s: Session, purchase: Purchase, dispute_id: str, status: str) -> str:
        if status in WON:
            return self.reinstated(s, purchase, dispute_id)
        if status != "lost":
            return "ignored"
        if purchase.user_id is not None:
            self.ledger.lock_account(s, purchase.user_id)
        s.refresh(purchase)
        if purchase.status == "charged_back":
            return "already_applied"
        purchase.status, purchase.closed_at = "charged_back", utcnow()
        log.info("purchase_charged_back", purchase_id=purchase.id)
        return "charged_back"

    def reinstated(self, s: Session, purchase: Purchase, dispute_id: str) -> str:
        """The dispute was decided for us: the credits it took come back, once."""
        if purchase.user_id is None:
            return "erased_user"
        self.ledger.lock_account(s, purchase.user_id)
        s.refresh(purchase)
        taken = -(self.ledger.credits_of(s, _taken(dispute_id)) or 0)
        if self.ledger.credits_of(s, _returned(dispute_id)) is not None:
            return "already_applied"
        if taken <= 0:  # won before the withdrawal arrived: nothing to give, nothing to take
            self.ledger.note(
                s,
                purchase.user_id,
                _returned(dispute_id),
                "dispute won before funds were withdrawn",
                kind="dispute_won",
                purchase_id=purchase.id,
            )
            return "restored"
        self.ledger.grant(
            s,
            purchase.user_id,
            taken,
            _returned(dispute_id),
            f"dispute won: pack {purchase.pack_id}",
            kind="dispute_won",
            bucket=PURCHASED,
            purchase_id=purchase.id,
        )
        purchase.credits_disputed -= taken
        purchase.status = "refunded" if purchase.amount_refunded >= purchase.amount else "paid"
        purchase.closed_at = None if purchase.status == "paid" else purchase.closed_at
        log.info("purchase_dispute_won", purchase_id=purchase.id, credits=taken)
        return "restored"


def _taken(dispute_id: str) -> str:
    return f"dispute:{dispute_id}"


def _returned(dispute_id: str) -> str:
    return f"dispute-won:{dispute_id}"
