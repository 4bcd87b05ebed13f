"""Both blob backends: encrypted at rest, authenticated metadata, rotation, deletion.

The S3 backend runs against a real S3 API served by moto on loopback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from picopt.kernel.blobstore import (
    BlobNotFound,
    BlobStore,
    EnvelopeCipher,
    FilesystemBlobStore,
    S3BlobStore,
)
from picopt.kernel.blobstore.container import pack, unpack
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
