"""The CLI embeds the local vision provider: one real instance per session (models load once).
The root conftest gives each test the logging setup back after a command changed it."""

from __future__ import annotations

import pytest

from services.vision.providers import get_provider
from services.vision.providers.local import LocalProvider


@pytest.fixture(scope="session")
def local() -> LocalProvider:
    provider = get_provider("local", {})
    assert isinstance(provider, LocalProvider)
    return provider
