"""Fixtures every test in the repository gets."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Give each test the logging setup the one before it found.

    Commands run in-process (`picopt optimize` logs warnings only, from the CLI and corpus
    tests) configure the process's logging, as a command should; left in place, every later
    test would lose its info lines, and what capture_logs sees (process_restarted,
    event_retry_scheduled) would depend on test order."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
