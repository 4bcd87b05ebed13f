"""Graceful shutdown of a real worker process: SIGTERM in the middle of a job.

Kubernetes sends SIGTERM to the worker's main process only, so that is what
these tests send. Either the worker finishes the job in hand before it exits,
or — past WORKER_STOP_GRACE_S — it leaves the message unacknowledged and the
broker redelivers it. Both ways the job completes exactly once.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from picopt.client import Client
from picopt.devstack import Stack
from tests.integration.conftest import new_user, wait_for
from tests.integration.harness import running_stack
from tests.integration.images import large_photo
from tests.integration.test_faults import result_files, settled_ledger, sql

pytestmark = pytest.mark.integration

WORKER = "worker.1"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("shutdown"), workers=1) as running:
        yield running


@pytest.fixture(scope="module")
def user(stack: Stack) -> Client:
    return new_user(stack)


def submit_and_wait_until_processing(user: Client, fmt: str = "webp") -> str:
    job = user.submit(
        large_photo(), filename="dog.jpg", format=fmt, width=2048, metadata=False, effort="max"
    )
    wait_for(
        lambda: user.job(job["id"])["status"] == "processing",
        timeout=60,
        interval=0.05,
        what="the worker to claim the job",
    )
    return str(job["id"])


def sigterm_worker(stack: Stack) -> int:
    """SIGTERM the worker process alone (not its group), as the kubelet does; its exit code."""
    popen = stack.processes[WORKER].popen
    assert popen is not None
    os.kill(popen.pid, signal.SIGTERM)
    return popen.wait(timeout=180)


def completed_events(stack: Stack, job_id: str) -> int:
    (count,) = sql(
        stack,
        "SELECT count(*) FROM processor.outbox WHERE event_type = 'job.completed' "
        "AND envelope LIKE %s",
        b"%" + job_id.encode() + b"%",
    )[0]
    return int(count)  # type: ignore[call-overload]


def attempts(stack: Stack, job_id: str) -> int:
    (value,) = sql(stack, "SELECT attempts FROM processor.jobs WHERE id = %s", job_id)[0]
    return int(value)  # type: ignore[call-overload]


def worker_log(stack: Stack) -> str:
    return (Path(stack.env["VAR_DIR"]).parent / "logs" / f"{WORKER}.log").read_text()


def test_sigterm_mid_job_finishes_the_job_before_exit(stack: Stack, user: Client) -> None:
    job_id = submit_and_wait_until_processing(user)
    try:
        assert sigterm_worker(stack) == 0
        # No worker runs now: whatever finished the job was the one told to stop.
        assert user.job(job_id)["status"] == "done"
        assert attempts(stack, job_id) == 1
        assert completed_events(stack, job_id) == 1
        assert settled_ledger(stack, user, job_id) == ["capture", "reserve"]
        assert len(result_files(stack, job_id)) == 1
    finally:
        stack.restart(WORKER)


def test_job_outliving_the_grace_is_redelivered_and_completes_once(
    stack: Stack, user: Client
) -> None:
    stack.env["WORKER_STOP_GRACE_S"] = "0.5"
    stack.restart(WORKER)
    try:
        # AVIF searched exhaustively takes seconds: the job outlives the grace (a WebP now
        # finishes within the second the consumer takes to notice the grace is over).
        job_id = submit_and_wait_until_processing(user, fmt="avif")
        assert sigterm_worker(stack) == 0
        assert user.job(job_id)["status"] == "processing"  # abandoned, not finished
        assert '"event_abandoned_at_stop"' in worker_log(stack)
    finally:
        del stack.env["WORKER_STOP_GRACE_S"]
        stack.restart(WORKER)
    done = user.wait(job_id, timeout=180)
    assert done["status"] == "done", done["error"]
    assert attempts(stack, job_id) == 2
    wait_for(lambda: completed_events(stack, job_id) == 1, what="job.completed recorded")
    assert settled_ledger(stack, user, job_id) == ["capture", "reserve"]
    assert len(result_files(stack, job_id)) == 1
