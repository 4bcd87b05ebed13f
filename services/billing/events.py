"""Billing's reactions to the job flow and to new accounts."""

from __future__ import annotations

from picopt.events.v1 import events_pb2
from picopt.kernel.messaging import HandlerContext, Subscription
from services.billing.ledger import Ledger


def subscriptions(ledger: Ledger, trial_credits: int) -> list[Subscription]:
    def on_completed(ctx: HandlerContext) -> None:
        assert ctx.session is not None
        ledger.capture(ctx.session, ctx.payload.job_id)

    def on_failed(ctx: HandlerContext) -> None:
        assert ctx.session is not None
        ledger.release(ctx.session, ctx.payload.job_id, ctx.payload.code or "job_failed")

    def on_account_created(ctx: HandlerContext) -> None:
        assert ctx.session is not None
        if trial_credits > 0:
            user_id = ctx.payload.user_id
            ledger.grant(ctx.session, user_id, trial_credits, f"trial:{user_id}", "trial")

    return [
        Subscription("job.completed", events_pb2.JobCompleted, on_completed),
        Subscription("job.failed", events_pb2.JobFailed, on_failed),
        Subscription("account.created", events_pb2.AccountCreated, on_account_created),
    ]
