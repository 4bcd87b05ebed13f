"""optimize_isolated: a child process enforces timeout and memory ceiling; errors stay clean."""

from __future__ import annotations

import pytest

from services.processor.engine import EngineError, Limits, OptimizeOptions, optimize_isolated

from .conftest import encode, photo


def test_returns_the_same_kind_of_result() -> None:
    result = optimize_isolated(encode(photo(), "PNG"), OptimizeOptions(format="webp"), Limits())
    assert result.main.format == "webp" and result.main.data.startswith(b"RIFF")


def test_corrupt_input_fails_with_its_code_and_the_next_job_runs() -> None:
    data = encode(photo(), "JPEG")
    with pytest.raises(EngineError) as err:
        optimize_isolated(data[: len(data) // 3], OptimizeOptions(), Limits())
    assert err.value.code == "corrupt_image"
    assert optimize_isolated(data, OptimizeOptions(), Limits()).main.data


def test_timeout() -> None:
    data = encode(photo(600, 400), "PNG")
    with pytest.raises(EngineError) as err:
        optimize_isolated(data, OptimizeOptions(format="avif"), Limits(timeout_s=0.01))
    assert err.value.code == "timeout"


def test_memory_ceiling() -> None:
    data = encode(photo(2000, 2000), "PNG")
    with pytest.raises(EngineError) as err:
        optimize_isolated(data, OptimizeOptions(), Limits(max_memory_mb=60))
    assert err.value.code == "too_large"


def test_oversized_input_is_refused_before_spawning() -> None:
    with pytest.raises(EngineError) as err:
        optimize_isolated(b"\xff\xd8\xff" + b"0" * 2000, OptimizeOptions(), Limits(max_bytes=1000))
    assert err.value.code == "too_large"
