"""Every codec's claims fit the shared format table (ADR 0011): one place states the facts."""

from __future__ import annotations

import pytest

from picopt import formats
from services.processor.engine.codecs import CODECS


def test_the_registry_writes_exactly_the_writable_formats() -> None:
    assert set(CODECS) == set(formats.WRITABLE)


@pytest.mark.parametrize("name", sorted(CODECS))
def test_a_codec_never_claims_more_than_its_format_holds(name: str) -> None:
    codec, row = CODECS[name], formats.get(name)
    assert row.alpha or not codec.alpha
    assert row.animation or not codec.animation
    assert row.lossless or not codec.lossless
