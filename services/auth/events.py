"""Auth's reactions to events: the periodic log purge ordered by retention."""

from __future__ import annotations

from picopt.events.v1 import events_pb2
from picopt.kernel.messaging import HandlerContext, Outbox, Subscription
from picopt.kernel.protos import from_timestamp
from services.auth.service import AuthService


def subscriptions(service: AuthService, outbox: Outbox) -> list[Subscription]:
    def on_logs_purge(ctx: HandlerContext) -> None:
        assert ctx.session is not None
        cutoff = from_timestamp(ctx.payload.older_than)
        if cutoff is None:
            return
        counts = service.call_log.purge_logs(ctx.session, cutoff)
        outbox.add(
            ctx.session,
            "logs.purged",
            events_pb2.LogsPurged(request_id=ctx.payload.request_id, service="auth", counts=counts),
        )

    return [Subscription("logs.purge", events_pb2.LogsPurge, on_logs_purge)]
