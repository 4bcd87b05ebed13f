"""Job rows forget their image traces with the results; jobs past their deadline fail."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database, OutboxRow
from picopt.kernel.messaging import HandlerContext, Outbox
from picopt.kernel.protos import to_timestamp
from picopt.processor.v1 import processor_pb2
from services.processor.__main__ import MIGRATIONS
from services.processor.expiry import EXPIRED, JobExpiry
from services.processor.jobs import JobService, job_message
from services.processor.models import Job

TRACES = {
    "lqip": "data:image/webp;base64,UklGRg==",
    "blurhash": "LEHV6nWB2y",
    "input_name": "x.png",
}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'processor.db'}", schema="processor")
    database.migrate(MIGRATIONS)
    yield database
    database.dispose()


def new_job(db: Database, status: str, expires_in: timedelta) -> str:
    job_id = str(uuid.uuid4())
    JobService(db, Outbox("processor")).create(
        processor_pb2.CreateJobRequest(
            job_id=job_id,
            owner_id="user-a",
            input_key=f"uploads/{job_id}",
            input_name="holiday-with-anna.png",
            options=processor_pb2.JobOptions(format="auto"),
            expires_at=to_timestamp(datetime.now(UTC) + timedelta(hours=1)),
        )
    )
    with db.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status=status, expires_at=datetime.now(UTC) + expires_in, **TRACES)
        )
    return job_id


def row(db: Database, job_id: str) -> Job:
    with db.session(readonly=True) as s:
        job = s.get(Job, job_id)
        assert job is not None
        s.expunge(job)
        return job


def failed_events(db: Database) -> list[events_pb2.JobFailed]:
    with db.session(readonly=True) as s:
        envelopes = s.scalars(
            select(OutboxRow.envelope).where(OutboxRow.event_type == "job.failed")
        )
        return [
            events_pb2.JobFailed.FromString(events_pb2.Envelope.FromString(e).payload)
            for e in envelopes
        ]


def test_a_deleted_result_takes_the_preview_blurhash_and_file_name(db: Database) -> None:
    job_id = new_job(db, "done", timedelta(hours=1))
    other = new_job(db, "done", timedelta(hours=1))
    expiry = JobExpiry(db, Outbox("processor"))
    with db.session() as s:
        event = events_pb2.ResultDeleted(job_id=job_id)
        expiry.on_result_deleted(HandlerContext(events_pb2.Envelope(), event, s, 1))
    job = row(db, job_id)
    assert (job.lqip, job.blurhash, job.input_name) == ("", "", "")
    assert job.results_deleted_at is not None
    assert job_message(job).result_gone
    kept = row(db, other)
    assert (kept.lqip, kept.blurhash, kept.input_name) == tuple(TRACES.values())
    assert not job_message(kept).result_gone


def test_jobs_past_their_deadline_fail_and_every_such_row_forgets_its_traces(
    db: Database,
) -> None:
    stuck = {
        s: new_job(db, s, timedelta(seconds=-1)) for s in ("queued", "processing", "analyzing")
    }
    done_expired = new_job(db, "done", timedelta(seconds=-1))
    running = new_job(db, "processing", timedelta(hours=1))
    expiry = JobExpiry(db, Outbox("processor"))

    assert expiry.tick() == (3, 1)
    for job_id in stuck.values():
        job = row(db, job_id)
        assert job.status == "failed" and job.error_code == EXPIRED
        assert (job.lqip, job.blurhash, job.input_name) == ("", "", "")
    assert {e.job_id for e in failed_events(db)} == set(stuck.values())
    assert all(e.code == EXPIRED for e in failed_events(db))
    assert row(db, done_expired).lqip == "" and row(db, done_expired).status == "done"
    assert row(db, running).status == "processing" and row(db, running).lqip
    assert expiry.tick() == (0, 0)


def test_a_failed_job_forgets_its_traces_at_once(db: Database) -> None:
    job_id = new_job(db, "queued", timedelta(hours=1))
    JobService(db, Outbox("processor")).cancel(job_id, "user-a")
    job = row(db, job_id)
    assert (job.status, job.lqip, job.blurhash, job.input_name) == ("cancelled", "", "", "")
