"""`picopt optimize` end to end on files: outputs, --json lines, exit status, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picopt_cli import main
from services.processor.engine import detect_format
from services.processor.engine.tests.conftest import encode, photo


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    good = tmp_path / "photo.png"
    good.write_bytes(encode(photo(120, 80), "PNG"))
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"not an image at all")
    return [good, bad]


def test_json_lines_and_non_zero_exit_for_a_bad_input(
    inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    code = main(["optimize", *map(str, inputs), "--out-dir", str(out_dir), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    ok, failed = lines
    for key in ("input", "output", "format_in", "format_out", "bytes_in", "bytes_out"):
        assert key in ok
    for key in ("width", "height", "ssimulacra2", "ms"):
        assert key in ok
    assert detect_format(Path(ok["output"]).read_bytes()) == ok["format_out"]
    assert ok["bytes_out"] < ok["bytes_in"]
    assert failed["error"]["code"] == "unsupported_format"
    assert failed["output"] is None and failed["bytes_in"] == len(b"not an image at all")


def test_single_output_with_options(inputs: list[Path], tmp_path: Path) -> None:
    target = tmp_path / "small.webp"
    code = main(
        [
            "optimize",
            str(inputs[0]),
            "-o",
            str(target),
            "--format",
            "webp",
            "--width",
            "60",
            "--quality",
            "small",
        ]
    )
    assert code == 0
    assert target.read_bytes().startswith(b"RIFF")


def test_bad_input_prints_a_message_not_a_traceback(
    inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["optimize", str(inputs[1]), "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unsupported_format" in err and "Traceback" not in err


def test_missing_file_is_an_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["optimize", str(tmp_path / "nope.png"), "--out-dir", str(tmp_path), "--json"])
    assert code == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "unreadable"
