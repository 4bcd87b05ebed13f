"""Durations default to the policy and can only be made shorter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from picopt.kernel.settings import SettingsError
from services.retention.tests.conftest import policy


def test_defaults_are_the_policy() -> None:
    p = policy()
    assert p.image_ttl == timedelta(hours=24)
    assert p.log_age == timedelta(days=90)
    assert p.erasure_deadline == timedelta(days=30)
    assert p.export_ttl <= timedelta(hours=24)
    assert p.overdue_after < p.erasure_deadline / 2
    assert set(p.erasure_services) == {"auth", "billing", "processor", "retention"}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RETENTION_IMAGE_TTL", "86401", "RETENTION_IMAGE_TTL must be 1 to 86400"),
        ("RETENTION_IMAGE_TTL", "0", "RETENTION_IMAGE_TTL"),
        ("RETENTION_LOG_DAYS", "91", "RETENTION_LOG_DAYS must be more than 0 and at most 90"),
        (
            "RETENTION_ERASURE_DAYS",
            "31",
            "RETENTION_ERASURE_DAYS must be more than 0 and at most 30",
        ),
        ("RETENTION_ERASURE_DAYS", "-1", "RETENTION_ERASURE_DAYS"),
        ("RETENTION_DOWNLOAD_GRACE", "90000", "RETENTION_DOWNLOAD_GRACE"),
        ("RETENTION_SWEEP_INTERVAL", "90000", "RETENTION_SWEEP_INTERVAL"),
        ("RETENTION_EXPORT_TTL", "86401", "RETENTION_EXPORT_TTL"),
        ("RETENTION_OVERDUE_AFTER", str(31 * 86400), "RETENTION_OVERDUE_AFTER"),
        ("RETENTION_LOG_DAYS", "ninety", "RETENTION_LOG_DAYS must be a number"),
        ("RETENTION_LOG_PURGE_INTERVAL", "0", "RETENTION_LOG_PURGE_INTERVAL"),
    ],
)
def test_longer_or_bad_values_are_refused_with_the_setting_named(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        policy(**{name: value})


def test_shorter_values_are_accepted() -> None:
    p = policy(
        RETENTION_IMAGE_TTL="20",
        RETENTION_LOG_DAYS="0.5",
        RETENTION_ERASURE_DAYS="1",
        RETENTION_OVERDUE_AFTER="60",
        RETENTION_DOWNLOAD_GRACE="1",
        RETENTION_SWEEP_INTERVAL="5",
    )
    assert p.image_ttl == timedelta(seconds=20)
    assert p.log_age == timedelta(hours=12)
    assert p.erasure_deadline == timedelta(days=1)
    assert p.overdue_after == timedelta(seconds=60)


def test_retention_always_confirms_its_own_part_of_an_erasure() -> None:
    assert policy(RETENTION_ERASURE_SERVICES="auth").erasure_services == ("auth", "retention")
