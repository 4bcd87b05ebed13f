"""Vision's adapter registry covers the shared provider catalog, and nothing else."""

from __future__ import annotations

from picopt.vision_providers import KNOWN
from services.vision.providers import PROVIDERS


def test_catalog_names_every_registered_provider() -> None:
    assert set(KNOWN) == set(PROVIDERS)
