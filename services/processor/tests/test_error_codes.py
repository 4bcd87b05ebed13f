"""The README's job error table lists every code a job can end with: each code the engine raises
or the processor records is found in the source and must have its row."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROCESSOR = ROOT / "services" / "processor"
# EngineError("code", ...), a worker outcome error=("code", ...), fail_job(..., "code", ...)
# and the constants the processor passes to fail_job.
PATTERNS = (
    re.compile(r'EngineError\(\s*"([a-z_]+)"'),
    re.compile(r'error=\(\s*"([a-z_]+)"'),
    re.compile(r'fail_job\([^)]*?"([a-z_]+)",\s*"'),
    re.compile(r'^(?:CONTENT_POLICY|EXPIRED) = "([a-z_]+)"', re.MULTILINE),
    re.compile(r'\("error", \("([a-z_]+)"'),
)


def _codes_in_source() -> set[str]:
    codes: set[str] = set()
    for path in PROCESSOR.rglob("*.py"):
        if "tests" in path.parts:
            continue
        text = path.read_text()
        for pattern in PATTERNS:
            codes.update(pattern.findall(text))
    return codes


def _codes_in_readme() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Job errors and the decoder sandbox", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))


def test_every_job_error_code_has_its_row_in_the_readme() -> None:
    found = _codes_in_source()
    assert {"corrupt_image", "format_limit", "content_policy", "input_gone"} <= found
    assert found - _codes_in_readme() == set()


def test_the_readme_lists_no_code_nothing_raises() -> None:
    assert _codes_in_readme() - _codes_in_source() == set()
