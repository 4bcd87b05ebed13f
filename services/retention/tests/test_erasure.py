"""Retention's own erasure and log purge: every bookkeeping table has a bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from picopt.kernel.blobstore import FilesystemBlobStore
from picopt.kernel.db import Database
from services.retention.deleter import Deleter
from services.retention.erasure import RetentionData
from services.retention.models import DeletionRecord, PolicyNotice, PolicyVersion
from services.retention.sessions import Sessions
from services.retention.tests.conftest import policy

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=91)


def data(db: Database, blobs: FilesystemBlobStore) -> RetentionData:
    deleter = Deleter(db, blobs, policy())
    return RetentionData(deleter, Sessions(db, deleter, policy()))


def count(db: Database, model: type) -> int:
    with db.session(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def version(version: str, done: bool) -> PolicyVersion:
    return PolicyVersion(
        version=version,
        effective_date="2025-01-01",
        text="text",
        material=True,
        published_at=OLD,
        notification_done_at=OLD if done else None,
    )


def test_the_log_purge_bounds_the_deletion_log_and_finished_policy_notices(
    db: Database, blobs: FilesystemBlobStore
) -> None:
    with db.session() as s:
        s.add_all(
            [
                DeletionRecord(key="uploads/a", reason="job_ended", verified=True, deleted_at=OLD),
                DeletionRecord(key="uploads/b", reason="job_ended", verified=True, deleted_at=NOW),
                version("1", done=True),
                version("2", done=False),
                PolicyNotice(version="1", user_id="u1", sent_at=OLD),
                PolicyNotice(version="1", user_id="u2", sent_at=NOW),
                # The fan-out of version 2 still runs: its notices keep it from mailing twice.
                PolicyNotice(version="2", user_id="u1", sent_at=OLD),
            ]
        )
    with db.session() as s:
        counts = data(db, blobs).purge(s, NOW - timedelta(days=90))
    assert counts["deletion_log"] == 1 and counts["policy_notices"] == 1
    with db.session(readonly=True) as s:
        assert list(s.scalars(select(DeletionRecord.key))) == ["uploads/b"]
        left = {tuple(r) for r in s.execute(select(PolicyNotice.version, PolicyNotice.user_id))}
    assert left == {("1", "u2"), ("2", "u1")}


def test_erasure_forgets_which_policy_mails_the_user_got(
    db: Database, blobs: FilesystemBlobStore
) -> None:
    with db.session() as s:
        s.add_all(
            [
                version("1", done=True),
                PolicyNotice(version="1", user_id="u1", sent_at=NOW),
                PolicyNotice(version="1", user_id="u2", sent_at=NOW),
            ]
        )
    with db.session() as s:
        assert data(db, blobs).erase(s, "u1")["policy_notices"] == 1
    assert count(db, PolicyNotice) == 1
