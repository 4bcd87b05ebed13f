"""Processing sessions: joining, capping deadlines, closing, expiring; failed jobs' outputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from picopt.events.v1 import events_pb2
from picopt.kernel.blobstore import FilesystemBlobStore
from picopt.kernel.db import Database
from picopt.kernel.errors import InvalidArgument, NotFound
from picopt.kernel.protos import to_timestamp
from picopt.processor.v1 import processor_pb2
from services.retention.deleter import Deleter
from services.retention.models import DeletionRecord, ProcessingSession, TrackedObject
from services.retention.sessions import Sessions
from services.retention.tests.conftest import deliver, policy

LATER = datetime.now(UTC) + timedelta(hours=2)


def run_job(db: Database, blobs: FilesystemBlobStore, d: Deleter, job: str, session: str) -> None:
    """A job in `session` that completed with one result, nothing downloaded."""
    blobs.put(f"uploads/{job}", b"in", owner="u1", deadline=LATER)
    blobs.put(f"results/{job}/0", b"out", owner="u1", deadline=LATER)
    options = processor_pb2.JobOptions(session_id=session)
    deliver(
        db,
        d.on_submitted,
        events_pb2.JobSubmitted(
            job_id=job,
            owner_id="u1",
            input_key=f"uploads/{job}",
            options=options,
            expires_at=to_timestamp(LATER),
        ),
    )
    deliver(
        db,
        d.on_completed,
        events_pb2.JobCompleted(
            job_id=job,
            owner_id="u1",
            input_key=f"uploads/{job}",
            result_key=f"results/{job}/0",
            output_keys=[f"results/{job}/0"],
            expires_at=to_timestamp(LATER),
        ),
    )


def reasons(db: Database) -> dict[str, str]:
    with db.session(readonly=True) as s:
        return {r.key: r.reason for r in s.scalars(select(DeletionRecord))}


def test_closing_a_session_deletes_every_image_of_its_jobs_at_once(
    db: Database, blobs: FilesystemBlobStore
) -> None:
    d = Deleter(db, blobs, policy())
    sessions = Sessions(db, d, policy())
    mine = sessions.open("u1")
    other = sessions.open("u1")
    run_job(db, blobs, d, "j1", mine.id)
    run_job(db, blobs, d, "j2", other.id)
    with db.session(readonly=True) as s:
        capped = s.get(TrackedObject, "results/j1/0")
        assert capped is not None and capped.cause == "session_expired"
    closed = sessions.close("u1", mine.id)
    assert closed.status == "closed" and closed.images_deleted == 1
    assert not blobs.exists("results/j1/0")
    assert reasons(db)["results/j1/0"] == "session_expired"
    assert blobs.exists("results/j2/0")  # another session is untouched
    assert sessions.close("u1", mine.id).ended_at == closed.ended_at  # idempotent


def test_an_expired_session_is_emptied_by_the_timer_even_for_events_that_come_late(
    db: Database, blobs: FilesystemBlobStore
) -> None:
    d = Deleter(db, blobs, policy())
    sessions = Sessions(db, d, policy())
    session = sessions.open("u1", ttl_seconds=60)
    with db.session() as s:
        row = s.get(ProcessingSession, session.id)
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert sessions.expire_due() == 0
    run_job(db, blobs, d, "j3", session.id)  # its events arrive after the expiry
    assert d.delete_due() == 1
    assert not blobs.exists("results/j3/0")
    assert reasons(db)["results/j3/0"] == "session_expired"
    assert sessions.get("u1", session.id).status == "expired"


def test_another_users_session_is_not_found_and_ttls_are_bounded(
    db: Database, blobs: FilesystemBlobStore
) -> None:
    sessions = Sessions(db, Deleter(db, blobs, policy()), policy(RETENTION_IMAGE_TTL="600"))
    session = sessions.open("u1")
    assert session.expires_at - session.created_at == timedelta(seconds=600)
    with pytest.raises(NotFound):
        sessions.get("u2", session.id)
    with pytest.raises(NotFound):
        sessions.close("u2", session.id)
    with pytest.raises(InvalidArgument):
        sessions.open("u1", ttl_seconds=601)


def test_a_failed_job_outputs_are_deleted_and_audited(
    db: Database, blobs: FilesystemBlobStore
) -> None:
    d = Deleter(db, blobs, policy())
    blobs.put("uploads/j4", b"in", owner="u1", deadline=LATER)
    blobs.put("results/j4/0", b"refused", owner="u1", deadline=LATER)
    failed = events_pb2.JobFailed(
        job_id="j4",
        owner_id="u1",
        input_key="uploads/j4",
        code="content_policy",
        output_keys=["results/j4/0"],
    )
    deliver(db, d.on_failed, failed)
    deliver(db, d.on_failed, failed)  # a redelivery records nothing twice
    assert not blobs.exists("results/j4/0")
    assert reasons(db) == {"uploads/j4": "job_ended", "results/j4/0": "job_ended"}
