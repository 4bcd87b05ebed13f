"""Billing's reactions to the job flow and to accounts.

Trial credits go to the first account that confirms a given email address
(`account.confirmed` carries an HMAC digest of the address, never the
address): an unconfirmed account gets none, and a new account with an
address that already claimed a trial gets none either.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from picopt.events.v1 import events_pb2
from picopt.kernel.db import utcnow
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import HandlerContext, Subscription
from services.billing.ledger import Ledger
from services.billing.models import TrialClaim

log = get_logger(__name__)


def grant_trial(ledger: Ledger, s: Session, user_id: str, credits: int) -> bool:
    if credits <= 0:
        return False
    days = ledger.pricing.trial_expiry_days
    expires = utcnow() + timedelta(days=days) if days else None
    return ledger.grant(s, user_id, credits, f"trial:{user_id}", "trial", expires_at=expires)


def claim_trial(
    ledger: Ledger,
    s: Session,
    user_id: str,
    email_digest: str,
    credits: int,
    older_digests: Sequence[str] = (),
) -> bool:
    """Grant the trial unless another account already claimed this mailbox: under the
    current digest, or under a digest made with an old AUTH_SECRET before a rotation."""
    ledger.lock_account(s, user_id)
    locking = ledger.db.dialect == "postgresql"
    claim = s.get(TrialClaim, email_digest, with_for_update=locking)
    earlier = [s.get(TrialClaim, digest) for digest in older_digests if digest != email_digest]
    if any(c is not None and c.user_id != user_id for c in (claim, *earlier)):
        log.info("trial_already_claimed", user_id=user_id)
        return False
    if claim is None:
        s.add(TrialClaim(email_digest=email_digest, user_id=user_id, claimed_at=utcnow()))
        s.flush()
    return grant_trial(ledger, s, user_id, credits)


def subscriptions(ledger: Ledger, trial_credits: int) -> list[Subscription]:
    def on_completed(ctx: HandlerContext) -> None:
        assert ctx.session is not None
        # The gateway reserves one output per width asked for (at least one).
        ledger.capture(ctx.session, ctx.payload.job_id, ctx.payload.widths_made or None)

    def on_failed(ctx: HandlerContext) -> None:
        assert ctx.session is not None
        ledger.release(ctx.session, ctx.payload.job_id, ctx.payload.code or "job_failed")

    def on_account_confirmed(ctx: HandlerContext) -> None:
        assert ctx.session is not None
        payload = ctx.payload
        if not payload.email_digest:
            log.warning("account_confirmed_without_digest", user_id=payload.user_id)
            return
        claim_trial(
            ledger,
            ctx.session,
            payload.user_id,
            payload.email_digest,
            trial_credits,
            list(payload.older_email_digests),
        )

    return [
        Subscription("job.completed", events_pb2.JobCompleted, on_completed),
        Subscription("job.failed", events_pb2.JobFailed, on_failed),
        Subscription("account.confirmed", events_pb2.AccountConfirmed, on_account_confirmed),
    ]
