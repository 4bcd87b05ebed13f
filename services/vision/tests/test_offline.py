"""The local provider needs no network: it runs in a process whose socket calls all fail
(patched), and, where available, in a network namespace with no interfaces (`unshare -n`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.vision.tests.images import encode, sign_photo

REPO = Path(__file__).resolve().parents[3]

SCRIPT = r"""
import json, socket, sys

def refuse(*args, **kwargs):
    raise OSError("network disabled by test_offline")

if sys.argv[2] == "patched":
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.socket.sendto = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    socket.gethostbyname = refuse

from services.vision.providers import get_provider, prepare_image

meta = get_provider("local", {}).analyze(prepare_image(open(sys.argv[1], "rb").read()))
print(json.dumps({"texts": [t.text for t in meta.detected_text], "kind": meta.kind,
                  "verdict": meta.safety.verdict, "model": meta.model}))
"""


def _netns_available() -> bool:
    """`unshare -n` needs root (or user namespaces); CI runs as root, laptops may not."""
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.parametrize("isolation", ["patched", "netns"])
def test_local_provider_runs_with_network_disabled(tmp_path: Path, isolation: str) -> None:
    if isolation == "netns" and not _netns_available():
        pytest.skip("no network namespaces here; the socket-patched run still covers this")
    image = tmp_path / "sign.jpg"
    image.write_bytes(encode(sign_photo("Fresh Coffee"), "JPEG", quality=92))
    env = {
        **os.environ,
        "HOME": str(tmp_path),  # no cached model in a home directory can help
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PYTHONPATH": str(REPO),
    }
    prefix = ["unshare", "-n"] if isolation == "netns" else []
    done = subprocess.run(
        [*prefix, sys.executable, "-c", SCRIPT, str(image), isolation],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "Fresh Coffee" in result["texts"]
    assert result["verdict"] == "ok"
    assert not any((tmp_path / "cache").glob("**/*.onnx"))
