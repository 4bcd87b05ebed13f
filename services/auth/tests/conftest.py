"""Fixtures of auth's unit tests: a service on SQLite, on PostgreSQL, or on each in turn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.auth.tests.support import Env, postgres_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.db.dispose()


@pytest.fixture
def pg_env(tmp_path: Path) -> Iterator[Env]:
    with postgres_env(tmp_path) as e:
        yield e


@pytest.fixture(params=["sqlite", "postgresql"])
def any_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """Each test runs on both databases (row locks and transactions differ)."""
    if request.param == "sqlite":
        e = Env(tmp_path)
        yield e
        e.db.dispose()
    else:
        with postgres_env(tmp_path) as e:
            yield e
