"""What every data-owning service plugs in to take part in privacy requests.

A service supplies three functions (erase a user, purge its logs, export a
user's data); `PrivacyParticipant` turns them into the `account.erase` and
`logs.purge` subscriptions (answered through the service's outbox in the same
transaction) and the `DataSubjectService` gRPC servicer. Once an erasure
commits, the tables it wrote to are scrubbed so the erased bytes leave the
database files too (`picopt.kernel.scrub`). An erasure also removes the dead
letters of the service that name the user (their id, or an id from
`dead_letter_ids`, such as their jobs').
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from picopt.events.v1 import events_pb2
from picopt.kernel.errors import InvalidArgument
from picopt.kernel.exports import ExportPart, export_chunks
from picopt.kernel.grpc_server import GrpcServer
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import HandlerContext, Outbox, Subscription, delete_kernel_rows
from picopt.kernel.protos import from_timestamp, service_name
from picopt.kernel.scrub import scrub_after_commit
from picopt.privacy.v1 import privacy_pb2, privacy_pb2_grpc

log = get_logger(__name__)

Counts = dict[str, int]
EraseFn = Callable[[Session, str], Counts]
PurgeFn = Callable[[Session, datetime], Counts]
# A user's part of the export, as files (see picopt.kernel.exports).
ExportFn = Callable[[str], Iterable[ExportPart]]
IdsFn = Callable[[Session, str], Iterable[str]]


@dataclass
class PrivacyParticipant:
    service: str
    outbox: Outbox
    erase: EraseFn
    # None when the service answers logs.purge with its own handler.
    purge: PurgeFn | None
    export: ExportFn
    # Ids other than the user's own that tie a message to them (their jobs), read before
    # the erasure deletes them: dead letters naming any of them are removed too.
    dead_letter_ids: IdsFn | None = None

    def on_erase(self, ctx: HandlerContext) -> None:
        assert ctx.session is not None
        e = ctx.payload
        scrub_after_commit(ctx.session)
        ids = {
            e.user_id,
            *(self.dead_letter_ids(ctx.session, e.user_id) if self.dead_letter_ids else ()),
        }
        counts = self.erase(ctx.session, e.user_id)
        if ctx.dead_letters is not None:
            # Before the commit: if it fails the erasure is retried, and removing is idempotent.
            counts["dead_letters"] = ctx.dead_letters.remove_naming(self.service, ids)
        self.outbox.add(
            ctx.session,
            "account.erased",
            events_pb2.AccountErased(
                user_id=e.user_id, request_id=e.request_id, service=self.service, counts=counts
            ),
        )
        log.info("account_erased", user_id=e.user_id, request_id=e.request_id, **counts)

    def on_purge(self, ctx: HandlerContext) -> None:
        assert ctx.session is not None
        e = ctx.payload
        older_than = from_timestamp(e.older_than)
        if older_than is None or self.purge is None:
            log.warning("logs_purge_without_cutoff", request_id=e.request_id)
            return
        counts = {
            **delete_kernel_rows(ctx.session, older_than),
            **self.purge(ctx.session, older_than),
        }
        self.outbox.add(
            ctx.session,
            "logs.purged",
            events_pb2.LogsPurged(request_id=e.request_id, service=self.service, counts=counts),
        )
        log.info("logs_purged", request_id=e.request_id, **counts)

    def subscriptions(self) -> list[Subscription]:
        subs = [Subscription("account.erase", events_pb2.AccountErase, self.on_erase)]
        if self.purge is not None:
            subs.append(Subscription("logs.purge", events_pb2.LogsPurge, self.on_purge))
        return subs

    def register(self, server: GrpcServer) -> None:
        server.add(
            privacy_pb2_grpc.add_DataSubjectServiceServicer_to_server,
            _DataSubjectServicer(self),
            [service_name(privacy_pb2.DESCRIPTOR, "DataSubjectService")],
        )


class _DataSubjectServicer(privacy_pb2_grpc.DataSubjectServiceServicer):
    def __init__(self, participant: PrivacyParticipant) -> None:
        self.participant = participant

    def StreamUserData(
        self, request: privacy_pb2.StreamUserDataRequest, context: Any
    ) -> Iterator[privacy_pb2.StreamUserDataResponse]:
        if not request.user_id:
            raise InvalidArgument("user_id is required", code="invalid_user_id")
        yield from export_chunks(self.participant.export(request.user_id))
