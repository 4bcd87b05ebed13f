"""`picopt optimize` end to end on files: outputs, --json lines, exit status, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

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


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _tiny_gif() -> bytes:
    """Thirty flat 4x4 frames: per-frame overhead decides, and GIF's is the smallest, so the
    GIF itself comes back (`no_gain`)."""
    frames = [Image.new("P", (4, 4), i % 4) for i in range(30)]
    for f in frames:
        f.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255])
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=70, loop=0)


def test_one_failing_file_never_costs_the_others_their_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch with an animated GIF that comes back as itself (its .gif extension was a
    KeyError that ended the run), a file that is no image and one the engine cannot decode."""
    files = {
        "a.png": encode(photo(120, 80), "PNG"),
        "spinner.gif": _tiny_gif(),
        "notes.txt": b"not an image",
        "cut.jpg": encode(photo(200, 150), "JPEG")[:300],
        "b.png": encode(photo(90, 60, seed=2), "PNG"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out_dir = tmp_path / "out"
    args = ["optimize", *(str(tmp_path / n) for n in files), "--out-dir", str(out_dir), "--json"]
    assert main(args) == 1
    reports = {Path(str(r["input"])).name: r for r in _lines(capsys)}
    assert reports["notes.txt"]["error"]["code"] == "unsupported_format"
    assert reports["cut.jpg"]["error"]["code"] == "corrupt_image"
    for name in ("a.png", "spinner.gif", "b.png"):
        written = Path(reports[name]["output"])
        assert written.read_bytes() and written.parent == out_dir
        assert reports[name]["bytes_out"] <= reports[name]["bytes_in"]
    assert reports["spinner.gif"]["output"].endswith(".gif")


def test_widths_placeholder_and_enlarge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "wide.png"
    source.write_bytes(encode(photo(200, 100), "PNG"))
    args = ["optimize", str(source), "-o", str(tmp_path / "out.webp"), "--format", "webp"]
    args += ["--widths", "50,400,800", "--placeholder", "--json"]
    assert main(args) == 0
    (report,) = _lines(capsys)
    assert [(v["width"], Path(v["output"]).name) for v in report["variants"]] == [
        (50, "out-50w.webp"),
        (200, "out-200w.webp"),  # widths past the source: one full-size variant
    ]
    assert all(Path(v["output"]).exists() for v in report["variants"])
    assert report["placeholder"]["lqip"].startswith("data:image/webp;base64,")
    assert (
        main(
            [
                "optimize",
                str(source),
                "--out-dir",
                str(tmp_path / "big"),
                "--width",
                "400",
                "--enlarge",
                "--json",
            ]
        )
        == 0
    )
    assert _lines(capsys)[0]["width"] == 400


@pytest.mark.parametrize(
    ("setting", "value", "code"),
    [("ENGINE_MAX_PIXELS", "1000", "too_many_pixels"), ("ENGINE_MAX_BYTES", "100", "too_large")],
)
def test_the_cli_applies_the_operators_engine_limits(
    inputs: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    value: str,
    code: str,
) -> None:
    monkeypatch.setenv(setting, value)
    assert main(["optimize", str(inputs[0]), "--out-dir", str(tmp_path), "--json"]) == 1
    assert _lines(capsys)[0]["error"]["code"] == code


@pytest.mark.parametrize("effort", ["fast", "max"])
def test_effort_is_passed_to_the_engine(
    effort: str, inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / f"{effort}.out"
    code = main(["optimize", str(inputs[0]), "-o", str(target), "--effort", effort, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ssimulacra2"] >= 80


def test_an_unknown_effort_is_refused(inputs: list[Path]) -> None:
    with pytest.raises(SystemExit):
        main(["optimize", str(inputs[0]), "--effort", "slow"])
