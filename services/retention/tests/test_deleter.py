"""Deleting a job's results announces it once, so the processor forgets the image's traces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from picopt.events.v1 import events_pb2
from picopt.kernel.blobstore import FilesystemBlobStore
from picopt.kernel.db import Database
from services.retention.deleter import Deleter
from services.retention.models import DeletionRecord
from services.retention.tests.conftest import outbox_events, policy

LATER = datetime.now(UTC) + timedelta(hours=2)


def announced(db: Database) -> list[str]:
    return [
        events_pb2.ResultDeleted.FromString(e.payload).job_id
        for e in outbox_events(db, "result.deleted")
    ]


def test_result_deletions_announce_each_job_once_and_uploads_nothing(
    db: Database, blobs: FilesystemBlobStore
) -> None:
    for key in ("uploads/j1", "results/j1/0", "results/j1/1", "results/j2/0"):
        blobs.put(key, b"x", owner="u1", deadline=LATER)
    d = Deleter(db, blobs, policy())
    with db.session() as s:
        for key in ("uploads/j1", "results/j1/0", "results/j1/1", "results/missing/0"):
            d.delete_object(s, key, "download")
    assert announced(db) == ["j1"]
    with db.session() as s:
        d.delete_object(s, "results/j2/0", "expired")
    assert announced(db) == ["j1", "j2"]


def test_a_temp_file_finished_during_the_sweep_costs_no_audit_record(
    db: Database, blobs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs.put("uploads/lost", b"x", owner="u1", deadline=datetime.now(UTC) - timedelta(seconds=1))
    vanished = blobs.root / "uploads" / ".tmp-result-1-abcd"
    # A writer's temp file, renamed into place between the listing and its stat().
    monkeypatch.setattr(blobs, "temp_files", lambda: iter([vanished]))
    assert Deleter(db, blobs, policy()).sweep() == (1, 0)
    with db.session(readonly=True) as s:
        assert list(s.scalars(select(DeletionRecord.reason))) == ["expired"]
