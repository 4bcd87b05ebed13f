"""The CLI embeds the local vision provider: one real instance per session (models load once).
Its commands configure the process's logging, as a command should; each test gives the
next one its setup back."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from services.vision.providers import get_provider
from services.vision.providers.local import LocalProvider


@pytest.fixture(scope="session")
def local() -> LocalProvider:
    provider = get_provider("local", {})
    assert isinstance(provider, LocalProvider)
    return provider


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`picopt optimize` logs warnings only: left in place, every later test in this process
    would lose its info lines (and what capture_logs sees)."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
