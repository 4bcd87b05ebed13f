"""Export archives, policy fan-out, key rotation and staff credentials (real gRPC servers)."""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from picopt.kernel.blobstore import EnvelopeCipher, FilesystemBlobStore
from picopt.kernel.db import Database
from picopt.kernel.errors import InvalidArgument, Unauthenticated
from picopt.kernel.exports import ExportPart
from picopt.kernel.grpc_server import GrpcServer
from picopt.kernel.mailer import Mailer
from picopt.kernel.messaging import Outbox
from picopt.kernel.privacy import PrivacyParticipant
from picopt.kernel.settings import key_id
from picopt.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from services.retention.deleter import Deleter
from services.retention.erasure import export_own_part
from services.retention.exports import Exports
from services.retention.keys import rotate_keys
from services.retention.policies import DEFAULT_POLICY_FILE, Policies, parse_policy
from services.retention.requests import Requests
from services.retention.staff import require_staff, staff_metadata
from services.retention.tests.conftest import master_keys, policy


def _nothing(*_: Any) -> dict[str, int]:
    return {}


@pytest.fixture
def exporter() -> Iterator[tuple[GrpcServer, str]]:
    participant = PrivacyParticipant(
        "auth",
        Outbox("auth"),
        _nothing,
        _nothing,
        lambda user_id: [
            ExportPart.one(
                "profile.json", "users", {"id": user_id, "created_at": datetime(2025, 1, 1)}
            )
        ],
    )
    server = GrpcServer("auth", "127.0.0.1", 0)
    participant.register(server)
    server.start()
    yield server, f"127.0.0.1:{server.port}"
    server.stop(0)


def test_export_waits_for_a_service_that_is_down_then_zips_every_part(
    db: Database, blobs: FilesystemBlobStore, exporter: tuple[GrpcServer, str], tmp_path: Path
) -> None:
    _, address = exporter
    p = policy(RETENTION_EXPORT_TTL="3600")
    live = privacy_pb2_grpc.DataSubjectServiceStub(grpc.insecure_channel(address))
    down = privacy_pb2_grpc.DataSubjectServiceStub(grpc.insecure_channel("127.0.0.1:9"))
    stubs: dict[str, Any] = {"auth": live, "billing": down, "processor": live}
    exports = Exports(db, blobs, p, stubs, own_parts=export_own_part, deadline_s=2)
    request = Requests(db, Outbox("retention"), p).open("u1", "export", actor="user")
    export_id = request.request.id

    assert exports.build_pending() == 0
    assert exports.status("u1", export_id).status == "pending"

    stubs["billing"] = live  # the service is back
    assert exports.build_pending() == 1
    ready = exports.status("u1", export_id)
    assert ready.status == "ready" and ready.expires_at is not None
    assert ready.expires_at - datetime.now(UTC) <= timedelta(seconds=3600)
    info = blobs.info(ready.blob_key)
    assert info.owner == "u1"
    with zipfile.ZipFile(io.BytesIO(blobs.get(ready.blob_key))) as z:
        names = set(z.namelist())
        assert {"manifest.json", "auth/profile.json", "retention/requests.json"} <= names
        profile = json.loads(z.read("auth/profile.json"))
        assert profile == {"id": "u1", "created_at": "2025-01-01T00:00:00+00:00"}
        (req,) = json.loads(z.read("retention/requests.json"))
        assert req["kind"] == "export" and req["status"] == "completed"
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["rows_per_table"] == {
            "auth.users": 1,
            "billing.users": 1,
            "processor.users": 1,
            "retention.privacy_requests": 1,
            "retention.data_exports": 1,
            "retention.processing_sessions": 0,
            "retention.policy_notices": 0,
        }
        assert "*.outbox" in manifest["not_exported"]
    with pytest.raises(Exception, match="export not found"):
        exports.status("someone-else", export_id)


def test_expired_exports_are_reported_gone(
    db: Database, blobs: FilesystemBlobStore, exporter: tuple[GrpcServer, str]
) -> None:
    _, address = exporter
    p = policy()
    stub = privacy_pb2_grpc.DataSubjectServiceStub(grpc.insecure_channel(address))
    later = datetime.now(UTC) + timedelta(days=2)
    exports = Exports(db, blobs, p, dict.fromkeys(p.exporters, stub))
    export_id = Requests(db, Outbox("retention"), p).open("u1", "export", "user").request.id
    exports.build_pending()
    exports.clock = lambda: later
    assert exports.status("u1", export_id).status == "expired"
    assert exports.expire() == 1


def test_the_repository_policy_parses_and_bad_files_are_refused() -> None:
    doc = parse_policy(DEFAULT_POLICY_FILE.read_text())
    assert doc.version and doc.effective_date and "24 hours" in doc.text
    for bad in (
        "no front matter",
        "---\nversion: 1\n---\ntext",
        "---\nversion: 1\ndate: 2025-01-01\n---\n ",
    ):
        with pytest.raises(InvalidArgument):
            parse_policy(bad)


class _Users(privacy_pb2_grpc.RecipientServiceServicer):
    def __init__(self, count: int) -> None:
        self.users = [(f"user-{i:03d}", f"user{i}@example.test") for i in range(count)]
        self.fail_after: str | None = None

    def ListRecipients(self, request: Any, context: Any) -> Any:
        if self.fail_after is not None and request.after_user_id >= self.fail_after:
            context.abort(grpc.StatusCode.UNAVAILABLE, "auth is down")
        page = [u for u in self.users if u[0] > request.after_user_id][: request.page_size]
        return privacy_pb2.ListRecipientsResponse(
            recipients=[privacy_pb2.Recipient(user_id=i, email=e, name="N") for i, e in page]
        )


def test_a_material_change_mails_every_user_once_in_resumable_batches(
    db: Database, tmp_path: Path
) -> None:
    users = _Users(7)
    server = GrpcServer("auth", "127.0.0.1", 0)
    server.add(privacy_pb2_grpc.add_RecipientServiceServicer_to_server, users, [])
    server.start()
    try:
        stub = privacy_pb2_grpc.RecipientServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.port}")
        )
        mail = tmp_path / "mail"
        policies = Policies(db, Mailer("x <x@localhost>", mail_dir=mail), stub, batch_size=3)
        policies.bootstrap(DEFAULT_POLICY_FILE)
        assert policies.notify_batch() == 0  # the initial version is not a change
        doc = parse_policy("---\nversion: 2.0\ndate: 2030-01-01\nmaterial: true\n---\nNew terms.\n")
        policies.publish(doc)
        # Announced, not in force: the first version is served until the change takes effect.
        assert policies.current().version != "2.0"
        assert [p.version for p in policies.upcoming()] == ["2.0"]
        users.fail_after = "user-002"
        assert policies.notify_batch() == 3
        assert policies.notify_batch() == 0  # auth down: progress kept, nothing lost
        users.fail_after = None
        # A crash after mailing but before the cursor moved: those users are not mailed again.
        with db.session() as s:
            from services.retention.models import PolicyVersion

            row = s.get(PolicyVersion, "2.0")
            assert row is not None and row.notified == 3
            row.notify_cursor = ""
        for _ in range(5):  # the timer's next ticks: skips mailed users, then finishes
            policies.notify_batch()
        versions = {p.version: p for p in policies.all()}
        assert versions["2.0"].notified == 7 and versions["2.0"].notification_done_at
        recipients = sorted(
            line.split(":", 1)[1].strip()
            for f in mail.glob("*.eml")
            for line in f.read_text().splitlines()
            if line.startswith("To:")
        )
        assert recipients == sorted(e for _, e in users.users)
    finally:
        server.stop(0)


def test_rotation_rewraps_every_object_so_the_old_key_can_be_dropped(
    db: Database, tmp_path: Path
) -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    root = tmp_path / "rot"
    before = FilesystemBlobStore(root, EnvelopeCipher(master_keys(old)))
    deadline = datetime.now(UTC) + timedelta(hours=1)
    for i in range(3):
        before.put(f"results/j{i}/0", f"image {i}".encode(), owner="u1", deadline=deadline)
    during = FilesystemBlobStore(root, EnvelopeCipher(master_keys(new, old)))
    during.put("results/j9/0", b"new", owner="u1", deadline=deadline)
    result = rotate_keys(Deleter(db, during, policy()), key_id(new))
    assert (result.rewrapped, result.already_current, result.failed) == (3, 1, 0)
    assert result.keys == {key_id(new): 4}
    after = FilesystemBlobStore(root, EnvelopeCipher(master_keys(new)))
    assert [after.get(f"results/j{i}/0") for i in range(3)] == [b"image 0", b"image 1", b"image 2"]


class _Context:
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata


def test_staff_calls_need_the_token() -> None:
    require_staff(_Context(staff_metadata("s3cret")), "s3cret")
    for sent in ((), staff_metadata("wrong"), (("authorization", "s3cret"),)):
        with pytest.raises(Unauthenticated):
            require_staff(_Context(sent), "s3cret")
