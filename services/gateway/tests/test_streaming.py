"""Uploads and downloads move through the gateway a chunk at a time: memory stays flat.

The gateway runs with fake backends and the real encrypted filesystem blob store
(services/gateway/tests/conftest.py);
bodies are produced and consumed on the fly, so the test never holds one either.
"""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from services.gateway.tests.bodies import BOUNDARY, jpeg_like, jpeg_upload, sha256
from services.gateway.tests.fakes import FakeBackends

MB = 1024 * 1024
USER = "user-1"


@pytest.fixture
def signed(app: Flask, backends: FakeBackends) -> tuple[str, dict[str, str]]:
    """A user and the Authorization header of their API key."""
    user_id = backends.auth.add_user("big@example.test")
    return user_id, {"Authorization": f"Bearer {backends.auth.key_for(user_id)}"}


def _measured(call: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_48_mb_upload_is_stored_encrypted_with_flat_memory(
    app: Flask, backends: FakeBackends, signed: tuple[str, dict[str, str]]
) -> None:
    user_id, auth = signed
    blobs = app.extensions["blobs"]
    body = jpeg_upload(48 * MB)

    def post() -> Any:
        return app.test_client().post(
            "/v1/jobs",
            input_stream=body,
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
            content_length=body.length,
            headers=auth,
        )

    reply, peak = _measured(post)
    assert reply.status_code == 202, reply.get_json()
    (job,) = backends.processor.jobs.values()
    assert job.input_bytes == 48 * MB and job.input_format == "jpeg"
    with blobs.open(f"uploads/{job.id}") as blob:
        assert blob.info.owner == user_id and blob.info.size == 48 * MB
        stored = sha256(blob)
    source = jpeg_like(48 * MB)
    assert stored == sha256(iter(lambda: source.read(MB), b""))
    assert peak < 8 * MB, f"the upload allocated {peak / MB:.1f} MB"


def test_a_48_mb_download_is_streamed_with_flat_memory(
    app: Flask, backends: FakeBackends, signed: tuple[str, dict[str, str]]
) -> None:
    user_id, auth = signed
    reply = app.test_client().post(
        "/v1/jobs",
        data={"file": (jpeg_like(1024), "big.jpg"), "metadata": "false"},
        headers=auth,
    )
    job_id = reply.get_json()["id"]
    deadline = datetime.now(UTC) + timedelta(hours=1)
    key = f"results/{job_id}/0"
    app.extensions["blobs"].put_stream(
        key, jpeg_like(48 * MB), 48 * MB, owner=user_id, deadline=deadline
    )
    backends.processor.finish(job_id, key, fmt="jpeg")

    def download() -> tuple[Any, str]:
        reply = app.test_client().get(f"/v1/jobs/{job_id}/result", headers=auth, buffered=False)
        digest = sha256(reply.response)
        reply.close()
        return reply, digest

    (reply, digest), peak = _measured(download)
    assert reply.status_code == 200
    assert reply.headers["Content-Length"] == str(48 * MB)
    assert reply.headers["Content-Disposition"] == 'attachment; filename="big.jpg"'
    source = jpeg_like(48 * MB)
    assert digest == sha256(iter(lambda: source.read(MB), b""))
    assert backends.processor.downloaded == [job_id]
    assert peak < 8 * MB, f"the download allocated {peak / MB:.1f} MB"
