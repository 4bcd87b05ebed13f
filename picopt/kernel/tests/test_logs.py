"""Logs are JSON, carry bound ids, and never leak personal data or frame locals."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from picopt.kernel import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("test", "debug", stream=stream)
    yield stream
    structlog.reset_defaults()


def last_line(stream: io.StringIO) -> dict[str, object]:
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    return json.loads(lines[-1])


def test_lines_are_json_with_bound_ids(captured: io.StringIO) -> None:
    with logs.bound_context(request_id="r-1", job_id="j-1"):
        logs.get_logger("x").info("job_started", bytes_in=10)
    line = last_line(captured)
    assert line["event"] == "job_started"
    assert line["request_id"] == "r-1" and line["job_id"] == "j-1"
    assert line["service"] == "test" and line["level"] == "info"


def test_sensitive_fields_are_redacted(captured: io.StringIO) -> None:
    logs.get_logger("x").info("oops", email="ada@example.com", password="hunter22", token="t0k")
    line = last_line(captured)
    assert "ada@example.com" not in json.dumps(line)
    assert line["password"] == "[redacted]" and line["token"] == "[redacted]"


def test_exceptions_never_include_frame_locals(captured: io.StringIO) -> None:
    def sign_up(email: str, password: str) -> None:
        raise ValueError("boom")

    try:
        sign_up("ada@example.com", "correct horse battery staple")
    except ValueError:
        logs.get_logger("x").exception("sign_up_failed")
    text = json.dumps(last_line(captured))
    assert "boom" in text
    assert "correct horse" not in text and "ada@example.com" not in text


def test_a_logger_that_has_written_follows_a_later_configure() -> None:
    """A module-level logger used under one configuration (the CLI's warning level, another
    stream) must write to the next one, and be seen by structlog's capture_logs."""
    log = logs.get_logger("module")
    first, second = io.StringIO(), io.StringIO()
    try:
        logs.configure("first", "warning", stream=first)
        log.warning("written_once")
        logs.configure("second", "debug", stream=second)
        log.info("written_twice")
        with structlog.testing.capture_logs() as captured:
            log.info("captured_line")
    finally:
        structlog.reset_defaults()
    assert "written_once" in first.getvalue() and "written_twice" not in first.getvalue()
    assert json.loads(second.getvalue())["service"] == "second"
    assert [line["event"] for line in captured] == ["captured_line"]
