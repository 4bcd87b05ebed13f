"""Every corpus file gets a valid output that is not bigger than its input (or is the input
itself, or says why it is bigger) or a documented error code, through the worker's isolated path
and through `picopt optimize`, and never a traceback.

The worker's path runs two jobs at a time (the decoder host forks one child per job); the CLI
runs one batch per set of options, as a user would.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.protobuf.json_format import ParseDict
from PIL import Image

from picopt.processor.v1 import processor_pb2
from picopt_cli import main as cli
from services.processor.engine import EngineError, Limits, OptimizeResult, optimize_isolated
from services.processor.worker import engine_options
from tests.corpus.files import CASES, Case

README = Path(__file__).resolve().parents[2] / "README.md"
LARGER_REASONS = {"format_not_accepted", "resized", "orientation"}
JOBS_AT_ONCE = 2


def documented_codes() -> set[str]:
    section = README.read_text().split("## Job errors and the decoder sandbox", 1)[1]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section.split("\n## ", 1)[0], re.MULTILINE))


def _cases(slow: bool) -> list[Case]:
    return [c for c in CASES if c.slow == slow]


def _as_worker(case: Case, data: bytes) -> OptimizeResult | EngineError:
    """What a worker does with the job: its options through the job contract, then the
    isolated engine with the service's default limits."""
    options = engine_options(ParseDict(case.options, processor_pb2.JobOptions()))
    try:
        return optimize_isolated(data, options, Limits())
    except EngineError as exc:
        return exc


def _check_output(data: bytes, width: int, height: int) -> None:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        assert im.size == (width, height)


def _check_result(case: Case, data: bytes, outcome: OptimizeResult | EngineError) -> None:
    if isinstance(outcome, EngineError):
        assert outcome.code in documented_codes(), (case.name, outcome.code, outcome.message)
        assert outcome.code != "internal_error", (case.name, outcome.message)
        assert case.code == outcome.code, (case.name, outcome.code, outcome.message)
        return
    assert case.code is None, (case.name, "expected", case.code)
    for out in outcome.outputs:
        _check_output(out.data, out.width, out.height)
        smaller = len(out.data) <= len(data)
        assert smaller or out.no_gain or out.larger_reason in LARGER_REASONS, (case.name, out)
        if out.no_gain:
            assert len(out.data) <= len(data)
    if case.format is not None:
        assert outcome.main.format == case.format, (case.name, outcome.main.format)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    folder = tmp_path_factory.mktemp("corpus")
    paths = {}
    for case in CASES:
        paths[case.name] = folder / case.name
        paths[case.name].write_bytes(case.make())
    yield paths


def _worker_path(cases: list[Case], corpus: dict[str, Path]) -> None:
    inputs = {c.name: corpus[c.name].read_bytes() for c in cases}
    with ThreadPoolExecutor(JOBS_AT_ONCE) as pool:
        outcomes = pool.map(lambda c: _as_worker(c, inputs[c.name]), cases)
        for case, outcome in zip(cases, outcomes, strict=True):
            _check_result(case, inputs[case.name], outcome)


def _cli_flags(options: dict[str, object]) -> list[str]:
    flags = []
    for key, value in sorted(options.items()):
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        flags += [f"--{key.replace('_', '-')}", text]
    return flags


def _cli_path(
    cases: list[Case], corpus: dict[str, Path], out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(json.dumps(case.options, sort_keys=True), []).append(case)
    for options, group in groups.items():
        args = ["optimize", *(str(corpus[c.name]) for c in group), "--out-dir", str(out_dir)]
        code = cli([*args, *_cli_flags(json.loads(options)), "--json"])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err and "Traceback" not in captured.out
        reports = [json.loads(line) for line in captured.out.splitlines()]
        assert len(reports) == len(group)
        assert code == (1 if any(c.code for c in group) else 0)
        for case, report in zip(group, reports, strict=True):
            _check_report(case, corpus[case.name], report)


def _check_report(case: Case, source: Path, report: dict) -> None:
    if "error" in report:
        assert report["error"]["code"] in documented_codes(), (case.name, report)
        assert report["error"]["code"] == case.code, (case.name, report)
        return
    assert case.code is None, (case.name, report)
    written = Path(report["output"])
    _check_output(written.read_bytes(), report["width"], report["height"])
    bigger = report["bytes_out"] > source.stat().st_size
    assert not bigger or report["larger_reason"] in LARGER_REASONS, (case.name, report)
    if case.format is not None:
        assert report["format_out"] == case.format, (case.name, report)
    for variant in report.get("variants", []):
        _check_output(Path(variant["output"]).read_bytes(), variant["width"], variant["height"])


def test_every_file_through_the_workers_isolated_path(corpus: dict[str, Path]) -> None:
    _worker_path(_cases(slow=False), corpus)


def test_every_file_through_picopt_optimize(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cli_path(_cases(slow=False), corpus, tmp_path, capsys)


@pytest.mark.slow
def test_near_limit_files_through_both_paths(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """98 MP just under ENGINE_MAX_PIXELS, mostly empty: a few seconds each way."""
    _worker_path(_cases(slow=True), corpus)
    _cli_path(_cases(slow=True), corpus, tmp_path, capsys)
