"""Uploads and downloads move through the gateway a chunk at a time: memory stays flat.

The gateway runs with fake backends and the real encrypted filesystem blob store
(services/gateway/tests/conftest.py);
bodies are produced and consumed on the fly, so the test never holds one either.
"""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from services.gateway.tests.fakes import FakeBackends

MB = 1024 * 1024
BOUNDARY = "picopt-streaming-boundary"
USER = "user-1"


class _Stream(io.RawIOBase):
    """Bytes made on the fly: `head`, then `size` deterministic filler bytes, then `tail`."""

    def __init__(self, head: bytes, size: int, tail: bytes = b"") -> None:
        self.head, self.size, self.tail = head, size, tail
        self.length = len(head) + size + len(tail)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.length}[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view, n = memoryview(buffer), 0
        while n < len(view) and self.pos < self.length:
            filler_at = self.pos - len(self.head)
            if filler_at < 0:
                chunk = self.head[self.pos : self.pos + len(view) - n]
            elif filler_at < self.size:
                block = hashlib.sha256(str(filler_at // 4096).encode()).digest() * 128
                chunk = block[filler_at % 4096 :][: min(len(view) - n, self.size - filler_at)]
            else:
                start = filler_at - self.size
                chunk = self.tail[start : start + len(view) - n]
            view[n : n + len(chunk)] = chunk
            n += len(chunk)
            self.pos += len(chunk)
        return n


JPEG = b"\xff\xd8\xff\xe0"


def _image(size: int) -> io.BufferedReader:
    """`size` bytes that start like a JPEG."""
    return io.BufferedReader(_Stream(JPEG, size - len(JPEG)))


def _sha256(chunks: Any) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _upload(size: int) -> _Stream:
    """A multipart body with one `file` part holding `_image(size)`."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\nfalse\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"'
        "\r\nContent-Type: image/jpeg\r\n\r\n"
    ).encode() + JPEG
    return _Stream(head, size - len(JPEG), f"\r\n--{BOUNDARY}--\r\n".encode())


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
    body = _upload(48 * MB)

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
        stored = _sha256(blob)
    source = _image(48 * MB)
    assert stored == _sha256(iter(lambda: source.read(MB), b""))
    assert peak < 8 * MB, f"the upload allocated {peak / MB:.1f} MB"


def test_a_48_mb_download_is_streamed_with_flat_memory(
    app: Flask, backends: FakeBackends, signed: tuple[str, dict[str, str]]
) -> None:
    user_id, auth = signed
    reply = app.test_client().post(
        "/v1/jobs",
        data={"file": (_image(1024), "big.jpg"), "metadata": "false"},
        headers=auth,
    )
    job_id = reply.get_json()["id"]
    deadline = datetime.now(UTC) + timedelta(hours=1)
    key = f"results/{job_id}/0"
    app.extensions["blobs"].put_stream(
        key, _image(48 * MB), 48 * MB, owner=user_id, deadline=deadline
    )
    backends.processor.finish(job_id, key, fmt="jpeg")

    def download() -> tuple[Any, str]:
        reply = app.test_client().get(f"/v1/jobs/{job_id}/result", headers=auth, buffered=False)
        digest = _sha256(reply.response)
        reply.close()
        return reply, digest

    (reply, digest), peak = _measured(download)
    assert reply.status_code == 200
    assert reply.headers["Content-Length"] == str(48 * MB)
    assert reply.headers["Content-Disposition"] == 'attachment; filename="big.jpg"'
    source = _image(48 * MB)
    assert digest == _sha256(iter(lambda: source.read(MB), b""))
    assert backends.processor.downloaded == [job_id]
    assert peak < 8 * MB, f"the download allocated {peak / MB:.1f} MB"
