"""Privacy facts come from retention and vision; remembered briefly, stale only for so long."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from services.gateway.privacy_facts import (
    POLICY_MAX_IMAGE_TTL,
    PrivacyFactsSource,
    duration,
)
from services.gateway.problems import Problem
from services.gateway.tests.fakes import FakeBackends


@dataclass
class Clock:
    """A monotonic clock the test moves by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backends() -> FakeBackends:
    return FakeBackends()


@pytest.fixture
def source(backends: FakeBackends, clock: Clock) -> PrivacyFactsSource:
    return PrivacyFactsSource(backends, clock=clock, fresh_s=30, stale_s=600)


def test_an_answer_is_reused_while_fresh_then_asked_again(
    source: PrivacyFactsSource, backends: FakeBackends, clock: Clock
) -> None:
    backends.retention.image_ttl = timedelta(hours=3)
    assert source.retention().image_ttl == timedelta(hours=3)
    backends.retention.image_ttl = timedelta(hours=1)
    clock.now += 29
    assert source.retention().image_ttl == timedelta(hours=3)
    clock.now += 2
    assert source.retention().image_ttl == timedelta(hours=1)
    assert backends.retention.calls.count("GetRetentionFacts") == 2


def test_a_down_backend_is_covered_by_the_last_answer_for_a_while_then_is_a_503(
    source: PrivacyFactsSource, backends: FakeBackends, clock: Clock
) -> None:
    backends.vision.providers = (("openai", True),)
    assert source.providers().providers == (("openai", True),)
    backends.vision.down = True
    clock.now += 600
    assert source.providers().default == "openai"
    clock.now += 31
    with pytest.raises(Problem) as caught:
        source.providers()
    assert caught.value.status == 503 and "vision" in caught.value.detail


def test_never_answered_is_a_503_at_once(
    source: PrivacyFactsSource, backends: FakeBackends
) -> None:
    backends.retention.down = True
    with pytest.raises(Problem):
        source.retention()


def test_the_upload_lifetime_falls_back_to_the_policy_bound(
    source: PrivacyFactsSource, backends: FakeBackends
) -> None:
    backends.retention.down = True
    assert source.image_ttl() == POLICY_MAX_IMAGE_TTL == timedelta(hours=24)
    backends.retention.down = False
    backends.retention.image_ttl = timedelta(minutes=20)
    assert source.image_ttl() == timedelta(minutes=20)


def test_durations_read_naturally() -> None:
    assert duration(timedelta(days=1)) == "24 hours"
    assert duration(timedelta(days=90)) == "90 days"
    assert duration(timedelta(seconds=300)) == "5 minutes"
    assert duration(timedelta(seconds=1)) == "1 second"
    assert duration(timedelta(seconds=90)) == "90 seconds"
