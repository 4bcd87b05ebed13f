"""Staff deliver an export by mail (attached, or linked when too large) and find accounts by
address, both through auth's RecipientService (a real gRPC server here)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from picopt.kernel.blobstore import FilesystemBlobStore
from picopt.kernel.db import Database
from picopt.kernel.errors import FailedPrecondition, NotFound
from picopt.kernel.exports import ExportPart
from picopt.kernel.grpc_server import GrpcServer
from picopt.kernel.mailer import Mailer
from picopt.kernel.messaging import Outbox
from picopt.kernel.privacy import PrivacyParticipant
from picopt.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from services.retention.delivery import Delivery
from services.retention.erasure import export_own_part
from services.retention.exports import Exports
from services.retention.requests import Requests
from services.retention.tests.conftest import policy


class _Auth(privacy_pb2_grpc.RecipientServiceServicer):
    def GetRecipient(self, request: Any, context: Any) -> Any:
        if request.user_id != "u1":
            context.abort(grpc.StatusCode.NOT_FOUND, "user not found")
        return privacy_pb2.GetRecipientResponse(
            recipient=privacy_pb2.Recipient(user_id="u1", email="ada@example.test", name="Ada")
        )

    def FindRecipient(self, request: Any, context: Any) -> Any:
        if request.email.lower() != "ada@example.test":
            context.abort(grpc.StatusCode.NOT_FOUND, "no account has this address")
        return privacy_pb2.FindRecipientResponse(
            recipient=privacy_pb2.Recipient(user_id="u1", email="ada@example.test", name="Ada"),
            email_confirmed=True,
        )


@pytest.fixture
def servers() -> Iterator[str]:
    server = GrpcServer("auth", "127.0.0.1", 0)
    server.add(privacy_pb2_grpc.add_RecipientServiceServicer_to_server, _Auth(), [])
    participant = PrivacyParticipant(
        "auth",
        Outbox("auth"),
        lambda *_: {},
        None,
        lambda user_id: [ExportPart.one("profile.json", "users", {"id": user_id, "n": "x" * 5000})],
    )
    participant.register(server)
    server.start()
    yield f"127.0.0.1:{server.port}"
    server.stop(0)


def delivery(db: Database, blobs: FilesystemBlobStore, address: str, mail: Path) -> Delivery:
    p = policy()
    channel = grpc.insecure_channel(address)
    exports = Exports(
        db,
        blobs,
        p,
        dict.fromkeys(p.exporters, privacy_pb2_grpc.DataSubjectServiceStub(channel)),
        own_parts=export_own_part,
    )
    return Delivery(
        db,
        blobs,
        exports,
        Requests(db, Outbox("retention"), p),
        Mailer("x <x@localhost>", mail_dir=mail),
        privacy_pb2_grpc.RecipientServiceStub(channel),
        public_url="https://picopt.example",
    )


def mails(mail: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for f in sorted(mail.glob("*.eml"))
    ]


def test_an_export_is_mailed_attached_or_linked_once_ready(
    db: Database, blobs: FilesystemBlobStore, servers: str, tmp_path: Path
) -> None:
    mail = tmp_path / "mail"
    d = delivery(db, blobs, servers, mail)
    found = d.find_user("ADA@example.test")
    assert found.account.recipient.user_id == "u1" and found.requests == []
    export_id = d.requests.open("u1", "export", actor="staff").request.id
    with pytest.raises(FailedPrecondition, match="pending"):
        d.deliver(export_id)
    assert d.exports.build_pending() == 1
    assert d.deliver(export_id).attached
    d.max_attached_bytes = 100
    assert not d.deliver(export_id).attached
    sent = mails(mail)
    (attached,) = [m for m in sent if list(m.iter_attachments())]
    (linked,) = [m for m in sent if m is not attached]
    assert attached["To"] == "ada@example.test"
    assert [a.get_filename() for a in attached.iter_attachments()] == [
        f"picopt-export-{export_id}.zip"
    ]
    body = linked.get_body(("plain",))
    assert body is not None and f"/v1/account/exports/{export_id}" in body.get_content()
    with pytest.raises(NotFound):
        d.deliver("no-such-export")
    with pytest.raises(NotFound):
        d.find_user("nobody@example.test")
