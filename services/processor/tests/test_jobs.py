"""Job API use cases on a real (SQLite) database: idempotent create, isolation, paging, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from picopt.kernel.db import Database, OutboxRow
from picopt.kernel.errors import FailedPrecondition, InvalidArgument, NotFound
from picopt.kernel.messaging import Outbox
from picopt.kernel.protos import to_timestamp
from picopt.processor.v1 import processor_pb2
from services.processor.__main__ import MIGRATIONS
from services.processor.jobs import JobService, job_message
from services.processor.models import Job


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[JobService]:
    db = Database(f"sqlite:///{tmp_path / 'processor.db'}", schema="processor")
    db.migrate(MIGRATIONS)
    yield JobService(db, Outbox("processor"))
    db.dispose()


def create(jobs: JobService, owner: str = "user-a", job_id: str | None = None) -> str:
    job_id = job_id or str(uuid.uuid4())
    jobs.create(
        processor_pb2.CreateJobRequest(
            job_id=job_id,
            owner_id=owner,
            input_key=f"uploads/{job_id}",
            input_bytes=10,
            input_format="png",
            options=processor_pb2.JobOptions(format="auto", metadata=True),
            expires_at=to_timestamp(datetime.now(UTC) + timedelta(hours=24)),
        )
    )
    return job_id


def events(jobs: JobService) -> list[str]:
    with jobs.db.session() as s:
        return list(s.scalars(select(OutboxRow.event_type).order_by(OutboxRow.id)))


def test_create_is_idempotent_and_writes_one_event(jobs: JobService) -> None:
    job_id = create(jobs)
    create(jobs, job_id=job_id)
    assert jobs.get(job_id, "user-a").status == "queued"
    assert events(jobs) == ["job.submitted"]


def test_another_tenant_sees_nothing(jobs: JobService) -> None:
    job_id = create(jobs, owner="user-a")
    with pytest.raises(NotFound):
        jobs.get(job_id, "user-b")
    with pytest.raises(NotFound):
        jobs.cancel(job_id, "user-b")
    with pytest.raises(InvalidArgument):
        create(jobs, owner="user-b", job_id=job_id)  # an id cannot be taken over
    assert jobs.list("user-b", 10, "")[0] == []


def test_an_empty_owner_is_refused_not_a_wildcard(jobs: JobService) -> None:
    """Issue 13 item 8: an empty owner_id used to skip the ownership check."""
    job_id = create(jobs, owner="user-a")
    for call in (jobs.get, jobs.cancel, jobs.mark_downloaded):
        with pytest.raises(InvalidArgument) as refused:
            call(job_id, "")
        assert refused.value.code == "owner_required"
    with pytest.raises(InvalidArgument):
        jobs.list("", 10, "")
    assert jobs.get(job_id, "user-a").status == "queued"


def test_cursor_paging_visits_every_job_once_newest_first(jobs: JobService) -> None:
    created = [create(jobs) for _ in range(7)]
    seen: list[str] = []
    cursor = ""
    while True:
        page, cursor = jobs.list("user-a", 3, cursor)
        seen += [j.id for j in page]
        if not cursor:
            break
    assert sorted(seen) == sorted(created) and len(seen) == 7
    with pytest.raises(InvalidArgument):
        jobs.list("user-a", 3, "not-a-cursor")


def test_cancel_announces_failure_once(jobs: JobService) -> None:
    job_id = create(jobs)
    assert jobs.cancel(job_id, "user-a").status == "cancelled"
    with pytest.raises(FailedPrecondition):
        jobs.cancel(job_id, "user-a")
    assert events(jobs) == ["job.submitted", "job.failed"]


def test_a_result_bigger_than_its_input_says_why(jobs: JobService) -> None:
    job = Job(
        id="job-1",
        owner_id="user-a",
        status="done",
        input_key="uploads/job-1",
        input_bytes=25_409,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
        outputs=[
            {
                "blob_key": "results/job-1/0",
                "format": "webp",
                "bytes": 51_104,
                "width": 8,
                "height": 8,
                "larger_reason": "format_not_accepted",
            },
            {
                "blob_key": "results/job-1/1",
                "format": "webp",
                "bytes": 900,
                "width": 4,
                "height": 4,
                "larger_reason": "",
            },
        ],
    )
    message = job_message(job)
    assert message.larger_reason == "format_not_accepted"
    assert [o.larger_reason for o in message.outputs] == ["format_not_accepted", ""]
