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


def test_service_lists_in_any_order_are_accepted() -> None:
    p = policy(
        RETENTION_ERASURE_SERVICES="retention, processor,billing,auth",
        RETENTION_EXPORTERS="processor,auth,billing",
    )
    assert set(p.erasure_services) == {"auth", "billing", "processor", "retention"}
    assert set(p.exporters) == {"auth", "billing", "processor"}
    # Retention's own part is always awaited.
    assert policy(RETENTION_ERASURE_SERVICES="auth,billing,processor").erasure_services[-1] == (
        "retention"
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RETENTION_ERASURE_SERVICES", "auth", "billing, processor hold personal data"),
        ("RETENTION_ERASURE_SERVICES", "auth,processor,retention", "billing hold personal data"),
        ("RETENTION_ERASURE_SERVICES", "auth,billing,processor,retention,vision", "vision hold"),
        ("RETENTION_EXPORTERS", "auth,billing", "processor hold personal data but are missing"),
        ("RETENTION_EXPORTERS", "auth,billing,processor,gateway", "gateway hold none"),
    ],
)
def test_a_request_cannot_be_made_to_complete_without_a_service_holding_data(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=f"{name} must list .*{message}"):
        policy(**{name: value})


@pytest.mark.parametrize(
    ("env", "limit"),
    [
        ({"RETENTION_ERASURE_RETRY": "86401"}, "86400"),
        ({"RETENTION_ERASURE_RETRY": "0"}, "86400"),
        ({"RETENTION_ERASURE_RETRY": "-5"}, "86400"),
        # With a one-day deadline, an order must be re-sent at least 10 times before it.
        ({"RETENTION_ERASURE_DAYS": "1", "RETENTION_ERASURE_RETRY": "8641"}, "8640"),
    ],
)
def test_erasure_retries_are_bounded_so_the_deadline_holds(env: dict[str, str], limit: str) -> None:
    with pytest.raises(SettingsError, match=f"RETENTION_ERASURE_RETRY must be .* at most {limit} "):
        policy(RETENTION_OVERDUE_AFTER="60", **env)
    ok = policy(RETENTION_ERASURE_RETRY="5")
    assert ok.erasure_retry == timedelta(seconds=5)
