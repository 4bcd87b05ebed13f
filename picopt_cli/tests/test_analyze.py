"""`picopt analyze`: JSON lines on stdout, clear errors and exit codes, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picopt_cli import main
from services.vision.providers.local import LocalProvider
from services.vision.tests.images import encode, sign_photo


def test_json_output_is_one_object_per_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], local: LocalProvider
) -> None:
    first, second = tmp_path / "a.jpg", tmp_path / "b.png"
    first.write_bytes(encode(sign_photo("Platform 9"), "JPEG", quality=92))
    second.write_bytes(encode(sign_photo("Exit Only")))
    code = main(["analyze", "--provider", "local", "--json", str(first), str(second)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 2
    rows = [json.loads(line) for line in out]
    assert rows[0]["image"] == str(first) and rows[0]["provider"] == "local"
    assert "Platform 9" in [t["text"] for t in rows[0]["detected_text"]]
    assert {"alt_text", "caption", "tags", "faces", "colors", "quality", "safety"} <= set(rows[1])


def test_human_output_and_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], local: LocalProvider
) -> None:
    good, bad = tmp_path / "sign.png", tmp_path / "broken.jpg"
    good.write_bytes(encode(sign_photo("Gate B12")))
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    code = main(["analyze", str(good), str(bad), str(tmp_path / "missing.png")])
    captured = capsys.readouterr()
    assert code == 1
    assert "alt text : " in captured.out and "Gate B12" in captured.out
    assert "broken.jpg: not a readable image" in captured.err
    assert "missing.png: cannot read file" in captured.err
    assert "Traceback" not in captured.err


def test_unknown_provider_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--provider", "nope", "x.png"]) == 2
    assert "unknown vision provider 'nope'" in capsys.readouterr().err


def test_unconfigured_provider_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VISION_GEMINI_API_KEY", raising=False)
    assert main(["analyze", "--provider", "gemini", "x.png"]) == 2
    assert "VISION_GEMINI_" in capsys.readouterr().err
