"""Uploads and downloads move through the gateway a chunk at a time: memory stays flat.

The gateway runs with fake backends and the real encrypted filesystem blob store;
bodies are produced and consumed on the fly, so the test never holds one either.
"""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask

from picopt.auth.v1 import auth_pb2
from picopt.billing.v1 import billing_pb2
from picopt.kernel.blobstore import FilesystemBlobStore
from picopt.kernel.blobstore.crypto import EnvelopeCipher
from picopt.kernel.settings import Settings
from picopt.processor.v1 import processor_pb2
from services.gateway.app import create_app

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


class _Processor:
    def __init__(self) -> None:
        self.created: list[processor_pb2.CreateJobRequest] = []
        self.result_key = ""

    def CreateJob(self, request: processor_pb2.CreateJobRequest) -> Any:
        self.created.append(request)
        return processor_pb2.CreateJobResponse(
            job=processor_pb2.Job(id=request.job_id, status="queued")
        )

    def GetJob(self, request: processor_pb2.GetJobRequest) -> Any:
        job = processor_pb2.Job(
            id=request.job_id,
            status="done",
            result_key=self.result_key,
            output_format="jpeg",
            input_name="big.jpg",
        )
        return processor_pb2.GetJobResponse(job=job)

    def MarkResultDownloaded(self, request: Any) -> Any:
        return processor_pb2.MarkResultDownloadedResponse()


class _Auth:
    def AuthenticateApiKey(self, request: Any) -> auth_pb2.AuthenticateApiKeyResponse:
        return auth_pb2.AuthenticateApiKeyResponse(user_id=USER, key_id="key-1")


class _Billing:
    def Reserve(self, request: Any) -> Any:
        return billing_pb2.ReserveResponse()

    def Release(self, request: Any) -> Any:
        return billing_pb2.ReleaseResponse()


@pytest.fixture
def gateway(tmp_path: Path) -> tuple[Flask, FilesystemBlobStore, _Processor]:
    env = {"VAR_DIR": str(tmp_path), "MAX_UPLOAD_BYTES": str(50 * MB)}
    settings = Settings.load("gateway", env)
    blobs = FilesystemBlobStore(tmp_path / "blobs", EnvelopeCipher(settings.master_keys()))
    processor = _Processor()
    backends = SimpleNamespace(auth=_Auth(), billing=_Billing(), processor=processor)
    app = create_app(settings, backends=backends, blobs=blobs)  # type: ignore[arg-type]
    return app, blobs, processor


def _measured(call: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_48_mb_upload_is_stored_encrypted_with_flat_memory(gateway) -> None:
    app, blobs, processor = gateway
    body = _upload(48 * MB)

    def post() -> Any:
        return app.test_client().post(
            "/v1/jobs",
            input_stream=body,
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
            content_length=body.length,
            headers={"Authorization": "Bearer po_live_test"},
        )

    reply, peak = _measured(post)
    assert reply.status_code == 202, reply.get_json()
    (created,) = processor.created
    assert created.input_bytes == 48 * MB and created.input_format == "jpeg"
    with blobs.open(created.input_key) as blob:
        assert blob.info.owner == USER and blob.info.size == 48 * MB
        stored = _sha256(blob)
    source = _image(48 * MB)
    assert stored == _sha256(iter(lambda: source.read(MB), b""))
    assert peak < 8 * MB, f"the upload allocated {peak / MB:.1f} MB"


def test_a_48_mb_download_is_streamed_with_flat_memory(gateway) -> None:
    app, blobs, processor = gateway
    processor.result_key = "results/job-1/0"
    deadline = datetime.now(UTC) + timedelta(hours=1)
    blobs.put_stream(processor.result_key, _image(48 * MB), 48 * MB, owner=USER, deadline=deadline)

    def download() -> tuple[Any, str]:
        reply = app.test_client().get(
            "/v1/jobs/job-1/result",
            headers={"Authorization": "Bearer po_live_test"},
            buffered=False,
        )
        digest = _sha256(reply.response)
        reply.close()
        return reply, digest

    (reply, digest), peak = _measured(download)
    assert reply.status_code == 200
    assert reply.headers["Content-Length"] == str(48 * MB)
    assert reply.headers["Content-Disposition"] == 'attachment; filename="big.jpg"'
    source = _image(48 * MB)
    assert digest == _sha256(iter(lambda: source.read(MB), b""))
    assert peak < 8 * MB, f"the download allocated {peak / MB:.1f} MB"
