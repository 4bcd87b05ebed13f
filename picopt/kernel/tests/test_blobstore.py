"""Both blob backends: encrypted at rest, authenticated metadata, rotation, deletion.

The S3 backend runs against a real S3 API served by moto on loopback.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from cryptography.exceptions import InvalidTag

from picopt.kernel.blobstore import (
    BlobNotFound,
    BlobStore,
    BlobTampered,
    EnvelopeCipher,
    FilesystemBlobStore,
    S3BlobStore,
)
from picopt.kernel.blobstore.container import pack, unpack
from picopt.kernel.blobstore.crypto import CHUNK, TruncatedBlob
from picopt.kernel.settings import MasterKeys, key_id

PLAINTEXT = b"\x89PNG\r\n\x1a\n" + b"secret pixels " * 100


def keys(*raw: bytes) -> MasterKeys:
    return MasterKeys(current_id=key_id(raw[0]), keys={key_id(k): k for k in raw})


KEY_A, KEY_B = os.urandom(32), os.urandom(32)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("moto server did not start")
            time.sleep(0.1)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


class Backend:
    """A store under test plus a way to read what it physically stored."""

    def __init__(self, kind: str, tmp: Path, endpoint: str | None) -> None:
        self.kind, self.tmp, self.endpoint = kind, tmp, endpoint
        self.bucket = f"blobs-{os.urandom(4).hex()}"
        if kind == "s3":
            store = S3BlobStore.connect(self.bucket, EnvelopeCipher(keys(KEY_A)), endpoint)
            store.client.create_bucket(Bucket=self.bucket)

    def open(self, master: MasterKeys) -> BlobStore:
        cipher = EnvelopeCipher(master)
        if self.kind == "fs":
            return FilesystemBlobStore(self.tmp, cipher)
        return S3BlobStore.connect(self.bucket, cipher, self.endpoint, prefix="p")

    def raw(self, key: str) -> bytes:
        if self.kind == "fs":
            return (self.tmp / key).read_bytes()
        store = self.open(keys(KEY_A))
        assert isinstance(store, S3BlobStore)
        return store.client.get_object(Bucket=self.bucket, Key=f"p/{key}")["Body"].read()

    def write_raw(self, key: str, data: bytes) -> None:
        if self.kind == "fs":
            (self.tmp / key).write_bytes(data)
            return
        store = self.open(keys(KEY_A))
        assert isinstance(store, S3BlobStore)
        head = store.client.head_object(Bucket=self.bucket, Key=f"p/{key}")
        store.client.put_object(
            Bucket=self.bucket, Key=f"p/{key}", Body=data, Metadata=head["Metadata"]
        )


@pytest.fixture(params=["fs", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    endpoint = request.getfixturevalue("s3_endpoint") if request.param == "s3" else None
    return Backend(request.param, tmp_path, endpoint)


def deadline() -> datetime:
    return datetime.now(UTC) + timedelta(hours=24)


def test_roundtrip_stores_only_ciphertext(backend: Backend) -> None:
    store = backend.open(keys(KEY_A))
    info = store.put("uploads/job-1", PLAINTEXT, owner="user-1", deadline=deadline())
    assert store.get("uploads/job-1") == PLAINTEXT
    raw = backend.raw("uploads/job-1")
    assert b"\x89PNG" not in raw and b"secret pixels" not in raw
    assert info.owner == "user-1" and info.size == len(PLAINTEXT)
    assert store.info("uploads/job-1") == info


def test_edited_header_fails_to_decrypt(backend: Backend) -> None:
    store = backend.open(keys(KEY_A))
    store.put("results/job-2/0", PLAINTEXT, owner="user-1", deadline=deadline())
    header, ciphertext = unpack(backend.raw("results/job-2/0"), "x")
    header["owner"] = "user-2"  # try to hand the object to someone else
    backend.write_raw("results/job-2/0", pack(header, ciphertext))
    with pytest.raises(InvalidTag):
        store.get("results/job-2/0")


def test_reads_check_the_key_and_owner_their_header_authenticates(backend: Backend) -> None:
    """Issue 13, Low list: an object copied under another key in storage (someone with write
    access to the bucket putting Alice's result where Bob's is read) is refused, and a reader
    naming the owner never gets anyone else's object."""
    store = backend.open(keys(KEY_A))
    store.put("results/alice/0", PLAINTEXT, owner="alice", deadline=deadline())
    store.put("results/bob/0", b"bob's own picture", owner="bob", deadline=deadline())
    backend.write_raw("results/bob/0", backend.raw("results/alice/0"))
    with pytest.raises(BlobTampered):
        store.get("results/bob/0")
    with pytest.raises(BlobTampered):
        store.open("results/bob/0", owner="alice")
    with pytest.raises(BlobNotFound):
        store.get("results/alice/0", owner="bob")
    assert store.get("results/alice/0", owner="alice") == PLAINTEXT


def test_rotation_rewraps_without_touching_data(backend: Backend) -> None:
    old = backend.open(keys(KEY_A))
    old.put("uploads/job-3", PLAINTEXT, owner="u", deadline=deadline())
    during = backend.open(keys(KEY_B, KEY_A))  # new current key, old one still readable
    assert during.get("uploads/job-3") == PLAINTEXT
    assert during.rewrap("uploads/job-3") is True
    assert during.rewrap("uploads/job-3") is False
    after = backend.open(keys(KEY_B))  # old key retired
    assert after.get("uploads/job-3") == PLAINTEXT
    assert json.loads(json.dumps(after.info("uploads/job-3").key_id)) == key_id(KEY_B)
    with pytest.raises(KeyError):
        backend.open(keys(KEY_A)).get("uploads/job-3")


def test_delete_is_idempotent_and_list_sees_deadlines(backend: Backend) -> None:
    store = backend.open(keys(KEY_A))
    store.put("uploads/a", b"1", owner="u", deadline=deadline())
    store.put("results/a/0", b"2", owner="u", deadline=deadline())
    assert sorted(i.key for i in store.list()) == ["results/a/0", "uploads/a"]
    assert [i.key for i in store.list("uploads/")] == ["uploads/a"]
    assert store.delete("uploads/a") is True
    assert store.delete("uploads/a") is False
    assert not store.exists("uploads/a")
    with pytest.raises(BlobNotFound):
        store.get("uploads/a")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../b", "", "a//b"])
def test_keys_cannot_escape(backend: Backend, key: str) -> None:
    with pytest.raises(ValueError):
        backend.open(keys(KEY_A)).put(key, b"x", owner="u", deadline=deadline())


# --- chunked objects (format 2) -------------------------------------------------------


class _Source(io.RawIOBase):
    """`size` pseudo-random bytes made on the fly (the test never holds them)."""

    def __init__(self, size: int) -> None:
        self.size, self.pos = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.pos)
        for i in range(0, n, 4096):
            block = hashlib.sha256(str(self.pos + i).encode()).digest() * 128
            buffer[i : min(n, i + 4096)] = block[: min(n, i + 4096) - i]
        self.pos += n
        return n


def _source(size: int) -> io.BufferedReader:
    return io.BufferedReader(_Source(size))


def _digest_of(chunks: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_chunked_objects_round_trip_at_every_boundary(backend: Backend, size: int) -> None:
    store = backend.open(keys(KEY_A))
    info = store.put_stream("uploads/big", _source(size), size, owner="u", deadline=deadline())
    assert info.size == size == store.info("uploads/big").size
    with store.open("uploads/big") as blob:
        assert blob.info == info
        assert _digest_of(iter(blob)) == _digest_of(iter([_Source(size).read()]))
    assert backend.raw("uploads/big").startswith(b"POB2")


# S3: the pieces of the next 5 MiB part and the part being sent (about 13 MB measured).
@pytest.mark.parametrize(("kind", "size", "limit_mb"), [("fs", 64, 8), ("s3", 40, 20)])
def test_large_objects_move_with_flat_memory(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, size: int, limit_mb: int
) -> None:
    endpoint = request.getfixturevalue("s3_endpoint") if kind == "s3" else None
    store = Backend(kind, tmp_path, endpoint).open(keys(KEY_A))
    _assert_flat_memory(store, size, limit_mb)


def test_an_upload_whose_requests_are_retried_keeps_flat_memory(
    s3_endpoint: str, tmp_path: Path
) -> None:
    """A slow S3 (a loaded machine) makes botocore retry parts; each retry leaves a
    traceback cycle that held the part until the garbage collector ran: 39-55 MB instead
    of 23 for a 40 MB object, depending on when it ran."""
    store = Backend("s3", tmp_path, s3_endpoint).open(keys(KEY_A))
    assert isinstance(store, S3BlobStore)
    session = store.client._endpoint.http_session
    send, sent = session.send, []

    def answer_lost_every_other_part(request: Any) -> Any:
        reply = send(request)
        sent.append(request.url)
        if "partNumber=" in request.url and len(sent) % 2 == 0:
            raise ReadTimeoutError(endpoint_url=request.url)  # stored, but the answer is lost
        return reply

    session.send = answer_lost_every_other_part
    _assert_flat_memory(store, 40, 20)
    assert len([url for url in sent if "partNumber=" in url]) > 8  # parts were retried


def _assert_flat_memory(store: BlobStore, size: int, limit_mb: int) -> None:
    total = size * 1024 * 1024
    tracemalloc.start()
    try:
        store.put_stream("results/j/0", _source(total), total, owner="u", deadline=deadline())
        with store.open("results/j/0") as blob:
            assert sum(len(chunk) for chunk in blob) == total
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit_mb * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a {size} MB object"


def test_reordered_or_missing_chunks_fail(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path, EnvelopeCipher(keys(KEY_A)))
    size = 3 * CHUNK
    store.put_stream("uploads/x", _source(size), size, owner="u", deadline=deadline())
    header, body = unpack((tmp_path / "uploads/x").read_bytes(), "x")
    sealed = [body[i : i + CHUNK + 16] for i in range(0, len(body), CHUNK + 16)]
    for forged in (
        [sealed[1], sealed[0], sealed[2]],  # reordered
        [sealed[0], sealed[1], sealed[1]],  # a chunk repeated in place of the last
    ):
        (tmp_path / "uploads/x").write_bytes(pack(header, b"".join(forged)))
        with pytest.raises(InvalidTag):
            store.get("uploads/x")
    (tmp_path / "uploads/x").write_bytes(pack(header, b"".join(sealed[:2])))  # cut short
    with pytest.raises(TruncatedBlob):
        store.get("uploads/x")
    # cut at a chunk boundary and the header's size edited to match: the last chunk is not
    # marked as last, and the size is authenticated anyway
    (tmp_path / "uploads/x").write_bytes(pack({**header, "size": 2 * CHUNK}, b"".join(sealed[:2])))
    with pytest.raises(InvalidTag):
        store.get("uploads/x")


def test_objects_of_the_first_format_are_still_read_and_rotated(backend: Backend) -> None:
    store = backend.open(keys(KEY_A))
    old_writer = (
        FilesystemBlobStore(backend.tmp, store.cipher, write_format=1)  # type: ignore[attr-defined]
        if backend.kind == "fs"
        else S3BlobStore(store.client, store.bucket, store.cipher, "p", write_format=1)  # type: ignore[attr-defined]
    )
    old_writer.put("uploads/old", PLAINTEXT, owner="u", deadline=deadline())
    assert backend.raw("uploads/old").startswith(b"POB1")
    assert store.get("uploads/old") == PLAINTEXT
    rotated = backend.open(keys(KEY_B, KEY_A))
    assert rotated.rewrap("uploads/old") is True
    assert backend.open(keys(KEY_B)).get("uploads/old") == PLAINTEXT
