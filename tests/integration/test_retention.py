"""Images never outlive the limit, even with retention down part of the time and events lost.

One stack with RETENTION_IMAGE_TTL=20 s and a sweep every 2 s.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pika
import psycopg
import pytest

from picopt.client import Client
from picopt.demo import mailed_token
from picopt.devstack import Stack
from picopt.kernel.blobstore import EnvelopeCipher, FilesystemBlobStore
from picopt.kernel.settings import Settings
from picopt.retention.v1 import retention_pb2, retention_pb2_grpc
from tests.integration.conftest import blob_dir, new_user, retention_cli, wait_for
from tests.integration.harness import running_stack
from tests.integration.images import graphic_png

pytestmark = pytest.mark.integration

TTL_S = 20
SWEEP_S = 2
STAFF_TOKEN = secrets.token_urlsafe(24)
MD = (("authorization", f"Bearer {STAFF_TOKEN}"),)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("retention")
    env = {
        # Auth on the embedded SQLite default (the other services on PostgreSQL): the erased
        # rows' bytes must leave its database file and write-ahead log.
        "AUTH_DATABASE_URL": f"sqlite:///{tmp / 'sqlite' / 'auth.db'}",
        "RETENTION_IMAGE_TTL": str(TTL_S),
        "RETENTION_SWEEP_INTERVAL": str(SWEEP_S),
        "RETENTION_ORPHAN_GRACE": "5",
        "RETENTION_DOWNLOAD_GRACE": "1",
        "RETENTION_STAFF_TOKEN": STAFF_TOKEN,
        "PROCESSOR_EXPIRY_INTERVAL": "1",
    }
    with running_stack(tmp, extra_env=env) as running:
        yield running


def store(stack: Stack) -> FilesystemBlobStore:
    keys = Settings.load("retention", stack.env).master_keys()
    return FilesystemBlobStore(blob_dir(stack), EnvelopeCipher(keys))


class AgeMonitor:
    """Samples the blob store and remembers the oldest age any object was seen at."""

    def __init__(self, blobs: FilesystemBlobStore) -> None:
        self.blobs = blobs
        self.oldest = 0.0
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            now = datetime.now(UTC)
            for info in self.blobs.list():
                self.seen.add(info.key)
                self.oldest = max(self.oldest, (now - info.created_at).total_seconds())

    def __enter__(self) -> AgeMonitor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def retention_rows(stack: Stack, query: str, *params: object) -> list[tuple[Any, ...]]:
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        return list(conn.execute(query, params).fetchall())


def purge_queues(stack: Stack, *queues: str) -> None:
    """Lose events: what retention never hears of, only the sweep can catch."""
    connection = pika.BlockingConnection(pika.URLParameters(stack.env["AMQP_URL"]))
    try:
        channel = connection.channel()
        for queue in queues:
            channel.queue_purge(queue)
    finally:
        connection.close()


def test_no_blob_survives_the_limit_with_retention_down_and_events_lost(stack: Stack) -> None:
    blobs = store(stack)
    user = new_user(stack)
    with AgeMonitor(blobs) as monitor:
        kept = user.submit(graphic_png(), filename="kept.png", metadata=False)
        fetched = user.submit(graphic_png(), filename="fetched.png", metadata=False)
        assert user.wait(kept["id"])["status"] == "done"
        assert user.wait(fetched["id"])["status"] == "done"
        user.download(fetched["id"])
        # Retention has acted on what it heard so far: originals gone, the download noted.
        for job in (kept, fetched):
            wait_for(
                lambda job=job: not blobs.exists(f"uploads/{job['id']}"), what="original deleted"
            )
        wait_for(
            lambda: retention_rows(
                stack,
                "SELECT 1 FROM retention.tracked_objects WHERE job_id = %s AND cause = 'download'",
                fetched["id"],
            ),
            what="download recorded by retention",
        )
        # An object no event ever announced, with a deadline far beyond the policy.
        far = datetime.now(UTC) + timedelta(days=30)
        blobs.put("uploads/planted/orphan", b"lost", owner="nobody", deadline=far)
        temp = blob_dir(stack) / "uploads" / ".tmp-orphan-1-abcd"
        temp.write_bytes(b"half written")
        os.utime(temp, (time.time() - 3600, time.time() - 3600))

        stack.kill("retention")
        try:
            lost = user.submit(graphic_png(), filename="lost.png", metadata=False)
            assert user.wait(lost["id"])["status"] == "done"
            purge_queues(
                stack,
                "retention.job.submitted",
                "retention.job.completed",
                "retention.result.downloaded",
            )
            assert blobs.exists(f"uploads/{lost['id']}") or any(
                k.startswith("results/" + lost["id"]) for k in (i.key for i in blobs.list())
            )
            time.sleep(TTL_S / 2)  # down for part of the window
        finally:
            stack.restart("retention")
        stack.wait_healthy(timeout=60, services=("retention",))
        wait_for(lambda: not list(blobs.list()), timeout=TTL_S + 60, what="every blob deleted")
    assert not temp.exists()
    assert any(k.startswith(f"results/{lost['id']}") for k in monitor.seen)
    # The promise itself: nothing was ever seen older than the limit (+ one sweep + slack).
    assert monitor.oldest <= TTL_S + SWEEP_S + 10, monitor.oldest

    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        reasons = dict(
            conn.execute(
                "SELECT reason, count(*) FROM retention.deletion_log GROUP BY reason"
            ).fetchall()
        )
        unverified = conn.execute(
            "SELECT count(*) FROM retention.deletion_log WHERE NOT verified"
        ).fetchone()
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'retention' AND table_name = 'deletion_log'"
            )
        }
    assert reasons.get("job_ended", 0) >= 2  # originals, as soon as their job ended
    assert reasons.get("download", 0) >= 1  # the downloaded result, after the grace
    assert reasons.get("expired", 0) + reasons.get("orphan", 0) >= 2  # lost events: the sweep
    assert unverified == (0,)
    assert columns == {"id", "key", "reason", "verified", "deleted_at"}  # no personal data


def test_sqlite_files_hold_no_byte_of_an_erased_account(stack: Stack) -> None:
    sqlite_dir = Path(stack.env["AUTH_DATABASE_URL"].removeprefix("sqlite:///")).parent
    tag = uuid.uuid4().hex[:10]
    name, email = f"Walter Walhalla{tag}", f"walter.{tag}@example.test"
    client = Client(stack.gateway_url())
    client.signup(name, email, "correct horse battery staple")
    client.confirm(mailed_token(Path(stack.env["MAIL_DIR"]), email))
    client.login(email, "correct horse battery staple")

    def files_naming() -> list[str]:
        needles = (email.encode(), name.encode())
        return [p.name for p in sqlite_dir.iterdir() if any(n in p.read_bytes() for n in needles)]

    assert "auth.db-wal" in files_naming(), "the write-ahead log holds the new account"
    request_id = client.delete_account()["id"]

    def completed() -> bool:
        reply = staff(stack).GetRequest(retention_pb2.GetRequestRequest(id=request_id), metadata=MD)
        return reply.request.status == "completed"

    wait_for(completed, timeout=60, what="erasure completed")
    wait_for(lambda: not files_naming(), what="no SQLite file names the person")


def staff(stack: Stack) -> Any:
    return retention_pb2_grpc.RetentionServiceStub(
        grpc.insecure_channel(stack.grpc_address("retention"))
    )


def job_row(stack: Stack, job_id: str) -> tuple[Any, ...]:
    (row,) = retention_rows(
        stack,
        "SELECT status, error_code, lqip, blurhash, input_name FROM processor.jobs WHERE id = %s",
        job_id,
    )
    return tuple(row)


def test_a_job_row_forgets_preview_blurhash_and_file_name_with_its_result(stack: Stack) -> None:
    user = new_user(stack)
    job = user.submit(graphic_png(), filename="anna-at-the-beach.png", placeholder=True)
    done = user.wait(job["id"])
    assert done["status"] == "done" and done["placeholder"]["lqip"]
    _, _, lqip, blurhash, name = job_row(stack, job["id"])
    assert lqip and blurhash and name == "anna-at-the-beach.png"
    user.download(job["id"])  # deleted after the 1 s grace: result.deleted reaches processor
    wait_for(
        lambda: job_row(stack, job["id"])[2:] == ("", "", ""),
        what="preview, BlurHash and file name forgotten",
    )
    shown = user.job(job["id"])
    assert shown["placeholder"] is None and shown["result_gone"] is True
    assert shown["input"]["name"] == ""


def test_a_job_stuck_past_its_deadline_fails_releases_its_credits_and_loses_its_upload(
    stack: Stack,
) -> None:
    blobs = store(stack)
    user = new_user(stack)
    before = user.balance()["available"]
    workers = [name for name in stack.processes if name.startswith("worker.")]
    for name in workers:
        stack.kill(name)
    try:
        job = user.submit(graphic_png(), filename="stuck.png", metadata=False)
        assert user.job(job["id"])["status"] == "queued"
        assert user.balance()["available"] < before
        assert blobs.exists(f"uploads/{job['id']}")
        # The clock moves: the job's deadline has passed while no worker took it.
        retention_rows(
            stack,
            "UPDATE processor.jobs SET expires_at = now() - interval '1 second' WHERE id = %s"
            " RETURNING id",
            job["id"],
        )
        failed = wait_for(
            lambda: (j := user.job(job["id"]))["status"] == "failed" and j,
            what="the stuck job failed",
        )
        assert failed["error"]["code"] == "expired"
        wait_for(lambda: user.balance()["available"] == before, what="credits released")
        wait_for(lambda: not blobs.exists(f"uploads/{job['id']}"), what="upload deleted")
    finally:
        for name in workers:
            stack.restart(name)
    # A worker that gets the job's message afterwards leaves it alone.
    time.sleep(2)
    assert user.job(job["id"])["status"] == "failed"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETENTION_IMAGE_TTL", "86401"),
        ("RETENTION_DOWNLOAD_GRACE", "90000"),
        ("RETENTION_SWEEP_INTERVAL", "90000"),
        ("RETENTION_LOG_DAYS", "91"),
        ("RETENTION_ERASURE_DAYS", "31"),
        ("RETENTION_ERASURE_SERVICES", "auth,billing,retention"),
        ("RETENTION_EXPORTERS", "auth,billing"),
        ("RETENTION_ERASURE_RETRY", "864000"),
    ],
)
def test_longer_durations_are_refused_at_start_up(stack: Stack, name: str, value: str) -> None:
    env = {**stack.env, name: value, "RETENTION_GRPC_PORT": "0"}
    out = subprocess.run(
        [sys.executable, "-m", "services.retention"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("retention: refusing to start:") and name in last, out.stderr


def test_staff_cli_runs_the_sweep_and_prints_the_report_as_table_and_json(stack: Stack) -> None:
    # Its own deletion to report, whatever ran before (it used to count on earlier tests').
    user, blobs = new_user(stack), store(stack)
    job = user.submit(graphic_png(), filename="report.png", metadata=False)
    assert user.wait(job["id"])["status"] == "done"
    wait_for(lambda: not blobs.exists(f"uploads/{job['id']}"), what="original deleted")
    swept = retention_cli(stack, "sweep")
    assert swept.returncode == 0 and "orphans" in swept.stdout, swept.stderr
    table = retention_cli(stack, "report")
    assert table.returncode == 0, table.stderr
    for row in (
        "oldest stored image age",
        "last sweep",
        "overdue requests",
        "images deleted per reason",
        "log purges",
    ):
        assert row in table.stdout
    report: dict[str, Any] = json.loads(retention_cli(stack, "--json", "report").stdout)
    assert report["last_sweep_at"]
    assert {d["reason"] for d in report["deletions"]} >= {"job_ended"}
    with grpc.insecure_channel(stack.grpc_address("retention")) as channel:
        stub = retention_pb2_grpc.RetentionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.RunSweep(retention_pb2.RunSweepRequest())
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert stub.GetReport(retention_pb2.GetReportRequest(), metadata=MD).last_sweep_at.seconds


def test_the_compliance_report_covers_every_promise_with_this_deployments_evidence(
    stack: Stack, tmp_path: Path
) -> None:
    failing = "test_an_expired_session_takes_every_image_of_its_jobs"
    (tmp_path / "pytest.xml").write_text(
        "<testsuites><testsuite>"
        "<testcase classname='tests.integration.test_retention'"
        " name='test_no_blob_survives_the_limit_with_retention_down_and_events_lost'/>"
        f"<testcase classname='tests.integration.test_sessions' name='{failing}'>"
        "<failure message='boom'/></testcase>"
        "</testsuite></testsuites>"
    )
    out = retention_cli(
        stack,
        "--json",
        "report",
        "--compliance",
        "--out",
        str(tmp_path / "report"),
        "--tests",
        str(tmp_path / "pytest.xml"),
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc == json.loads((tmp_path / "report" / "compliance-report.json").read_text())
    assert (tmp_path / "report" / "compliance-report.md").read_text().startswith("# Privacy")
    assert "<table>" in (tmp_path / "report" / "compliance-report.html").read_text()
    by_id = {p["id"]: p for p in doc["promises"]}
    assert "unmapped" not in by_id and len(by_id) >= 15
    assert by_id["sessions"]["status"] == "failed"
    # The values this deployment runs with, not the defaults.
    assert {"name": "RETENTION_IMAGE_TTL", "value": "20 s"} in by_id["results"]["settings"]
    evidence = doc["evidence"]
    sweep = {r["measure"]: r for r in evidence["sweep"]}["last sweep"]
    assert sweep["status"] == "ok" and "ago" in sweep["value"]
    assert "broker could not be read" not in json.dumps(evidence["dead_letters"])
    assert {r["measure"] for r in evidence["requests"]} == {"open requests", "overdue requests"}
    assert [r["measure"] for r in evidence["erasure"]] == ["last erasure completed", "it took"]
