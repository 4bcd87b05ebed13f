"""Uploads are sniffed from their first few KiB: a hostile body is refused with flat memory."""

from __future__ import annotations

import io
import tracemalloc
from typing import Any

import pytest
from flask import Flask
from PIL import Image

from picopt import formats
from services.gateway.tests.bodies import BOUNDARY, Generated
from services.gateway.tests.fakes import FakeBackends

MB = 1024 * 1024


def _hostile_upload(part_bytes: int) -> Generated:
    """A multipart body whose file part is an `ftyp` box claiming the whole part, followed by
    nothing but would-be brands; made on the fly, so the test never holds it in memory."""
    head = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\nfalse\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.avif"'
            "\r\nContent-Type: image/avif\r\n\r\n"
        ).encode()
        + part_bytes.to_bytes(4, "big")
        + b"ftypisom\x00\x00\x00\x00"
    )
    return Generated(head, part_bytes - 16, f"\r\n--{BOUNDARY}--\r\n".encode())


@pytest.fixture
def key(backends: FakeBackends) -> str:
    return backends.auth.key_for(backends.auth.add_user("ada@example.test"))


@pytest.fixture
def gateway_env(gateway_env: dict[str, str]) -> dict[str, str]:
    return {**gateway_env, "MAX_UPLOAD_BYTES": str(50 * MB)}


def _post_traced(app: Flask, body: Generated, key: str) -> tuple[Any, int]:
    """The reply to posting `body`, and the peak bytes Python allocated while answering."""
    tracemalloc.start()
    try:
        reply = app.test_client().post(
            "/v1/jobs",
            input_stream=body,
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
            content_length=body.length,
            headers={"Authorization": f"Bearer {key}"},
        )
        return reply, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_50_mb_hostile_upload_is_refused_with_415_and_flat_memory(
    app: Flask, key: str, backends: FakeBackends
) -> None:
    reply, peak = _post_traced(app, _hostile_upload(50 * MB - 1024), key)
    assert reply.status_code == 415
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.json["code"] == "corrupt_image"
    # The body went to a spooled temporary file; only its first few KiB were ever read.
    assert peak < 4 * MB, f"refusing the upload allocated {peak / MB:.1f} MB"
    assert "Reserve" not in backends.billing.calls  # refused before any credit is held


def test_a_body_over_the_upload_limit_is_refused_with_413_before_it_is_read(
    app: Flask, key: str
) -> None:
    reply, peak = _post_traced(app, _hostile_upload(50 * MB + 1), key)
    assert reply.status_code == 413
    assert reply.json["code"] == "too-large"
    assert peak < 4 * MB


def test_formats_are_served_from_the_shared_table(app: Flask) -> None:
    reply = app.test_client().get("/v1/formats")
    assert reply.status_code == 200
    described = reply.get_json()
    assert [f["name"] for f in described["formats"]] == list(formats.FORMATS)
    assert described["effort"]["default"] == "balanced"


def test_a_real_image_passes_the_sniff_whole(app: Flask) -> None:
    """The check reads a few KiB and then the whole upload is kept, not only its head."""
    from werkzeug.datastructures import FileStorage

    from services.gateway.routes_jobs import _read_image

    out = io.BytesIO()
    Image.effect_noise((200, 200), 60).convert("RGB").save(out, "PNG")
    upload = FileStorage(io.BytesIO(out.getvalue()), "x.png")
    with app.test_request_context():
        size, fmt = _read_image(upload)
    assert fmt == "png" and size == len(out.getvalue()) > 4096
    assert upload.stream.read() == out.getvalue()
