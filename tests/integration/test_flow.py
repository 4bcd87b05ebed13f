"""The whole path through real services: sign up, pay, optimize, analyse, download, forget."""

from __future__ import annotations

import io

import grpc
import pytest
from PIL import Image

from picopt.billing.v1 import billing_pb2, billing_pb2_grpc
from picopt.client import Client
from picopt.devstack import Stack
from tests.integration.conftest import blob_dir, wait_for
from tests.integration.images import graphic_png, skimage_photo

pytestmark = pytest.mark.integration

SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"GIF8", b"\x00\x00\x00\x1cftyp", b"ftypavif")


def ledger(stack: Stack, user_id: str) -> list[billing_pb2.LedgerEntry]:
    with grpc.insecure_channel(stack.grpc_address("billing")) as channel:
        stub = billing_pb2_grpc.BillingServiceStub(channel)
        return list(
            stub.ListLedger(billing_pb2.ListLedgerRequest(user_id=user_id), timeout=5).entries
        )


def test_photo_travels_the_whole_way(stack: Stack, user: Client) -> None:
    before = user.balance()["available"]
    job = user.submit(skimage_photo("rocket.jpg"), accept="jpeg,webp,avif", metadata=True)
    assert job["status"] in {"queued", "processing"}
    assert job["input"]["format"] == "jpeg"

    # While the job runs, everything on disk is ciphertext.
    for path in blob_dir(stack).rglob("*"):
        if path.is_file():
            head = path.read_bytes()[:64]
            assert not any(sig in head for sig in SIGNATURES), path

    done = user.wait(job["id"], timeout=120)
    assert done["status"] == "done", done["error"]
    out = done["output"]
    assert out["format"] in {"jpeg", "webp", "avif"}
    assert 0 < out["bytes"] < done["input"]["bytes"]
    assert out["ssimulacra2"] >= 80  # the default "balanced" target
    assert (out["width"], out["height"]) == (640, 427)
    meta = done["metadata"]
    assert meta["width"] > 0 and meta["alt_text"]
    assert meta["colors"], "dominant colours expected"
    assert done["expires_at"]
    assert user.balance()["available"] == before - 2  # image + metadata surcharge

    # The original is deleted as soon as the job ends.
    wait_for(
        lambda: not (blob_dir(stack) / "uploads" / job["id"]).exists(), what="original deleted"
    )

    data = user.download(job["id"])
    assert len(data) == out["bytes"]
    with Image.open(io.BytesIO(data)) as image:
        assert image.format.lower() in {"jpeg", "webp", "avif"}
        assert image.size == (640, 427)
        assert "exif" not in image.info

    # The result goes after download (grace is 1 s in tests) and then answers 410.
    wait_for(
        lambda: not list((blob_dir(stack) / "results").glob(f"{job['id']}/*")),
        what="result deleted",
    )
    with pytest.raises(Exception) as gone:
        user.download(job["id"])
    assert getattr(gone.value, "status", None) == 410


def test_graphic_without_metadata_costs_one_credit(stack: Stack, user: Client) -> None:
    before = user.balance()["available"]
    job = user.submit(graphic_png(), filename="banner.png", metadata=False)
    done = user.wait(job["id"], timeout=60)
    assert done["status"] == "done", done["error"]
    assert done["metadata"] is None
    assert done["output"]["bytes"] <= done["input"]["bytes"]
    assert user.balance()["available"] == before - 1
