"""The whole path through real services: sign up, pay, optimize, analyse, download, forget."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from PIL import Image

from picopt.billing.v1 import billing_pb2, billing_pb2_grpc
from picopt.client import Client
from picopt.devstack import Stack
from services.gateway.tests.bodies import BOUNDARY, jpeg_upload
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
    assert done["options"]["effort"] == "balanced"  # the default effort, reported
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


MB = 1024 * 1024


def _gateway_processes(stack: Stack) -> list[int]:
    """The gateway's gunicorn master and its workers."""
    popen = stack.processes["gateway"].popen
    assert popen is not None
    master = popen.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def test_several_50_mb_uploads_at_once_keep_the_gateway_memory_flat(
    stack: Stack, user: Client
) -> None:
    """Four 48 MB uploads at once: the gateway's peak RSS grows by far less than one upload
    (held whole, they would cost at least 4 x 2 x 48 MB: the body and its ciphertext)."""
    pids = _gateway_processes(stack)
    baseline = {}
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak (VmHWM) restarts from now
        baseline[pid] = _status(pid, "VmRSS")

    def post(_: int) -> int:
        body = io.BufferedReader(jpeg_upload(48 * MB), buffer_size=MB)
        reply = user.http.post(
            f"{stack.gateway_url()}/v1/jobs",
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            timeout=120,
        )
        return reply.status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(post, range(4))) == [202] * 4
    growth = max(_status(pid, "VmHWM") - baseline[pid] for pid in pids)
    assert growth < 48 * MB, f"a gateway process grew by {growth / MB:.0f} MB"


def test_the_effort_asked_for_is_used_and_reported(stack: Stack, user: Client) -> None:
    job = user.submit(skimage_photo("rocket.jpg"), effort="fast", metadata=False)
    done = user.wait(job["id"], timeout=60)
    assert done["status"] == "done", done["error"]
    assert done["options"]["effort"] == "fast"
    assert done["output"]["ssimulacra2"] >= 80
    with pytest.raises(Exception) as refused:
        user.submit(skimage_photo("rocket.jpg"), effort="slow")
    assert getattr(refused.value, "status", None) == 400


def test_enlarge_lets_sizes_above_the_source_scale_up(stack: Stack, user: Client) -> None:
    """640 px wide: without `enlarge` a 1280 px request gives the source size, with it 1280."""
    kept = user.submit(graphic_png(), filename="g.png", width=1280, widths=[1280], metadata=False)
    grown = user.submit(
        graphic_png(), filename="g.png", width=1280, widths=[1280], enlarge=True, metadata=False
    )
    kept, grown = user.wait(kept["id"], timeout=60), user.wait(grown["id"], timeout=60)
    assert kept["status"] == grown["status"] == "done", (kept["error"], grown["error"])
    assert [v["width"] for v in kept["variants"]] == [640, 640]
    assert [v["width"] for v in grown["variants"]] == [1280, 1280]
    assert grown["options"]["enlarge"] is True and "enlarge" not in kept["options"]
