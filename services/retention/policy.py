"""Retention settings: defaults are the policy's promises, and no value can weaken one.

A duration above the policy's is refused at start-up (SettingsError), so no
configuration can quietly keep data longer than the privacy policy promises.
The lists of services an erasure waits for and an export gathers from must
name every service that holds personal data (an erasure or export missing one
would complete while data remains), and the erasure retry must be short
enough that a lost order is re-sent many times before the 30-day deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from picopt.kernel.settings import Env, SettingsError

MAX_IMAGE_TTL_S = 86_400
MAX_LOG_DAYS = 90.0
MAX_ERASURE_DAYS = 30.0
DEFAULT_OVERDUE_AFTER_S = 7 * 86_400
DEFAULT_SESSION_TTL_S = 3_600
SERVICES_WITH_USER_DATA = ("auth", "billing", "processor", "retention")
# Retention adds its own part (requests, sessions, policy notices) to every export.
EXPORTERS = ("auth", "billing", "processor")
MIN_POLICY_NOTICE_DAYS = 30
MAX_ERASURE_RETRY_S = 86_400.0
# A lost erasure order is re-sent at least this many times before the deadline.
MIN_RETRIES_BEFORE_DEADLINE = 10


def _bounded(env: Env, name: str, default: float, low: float, high: float, unit: str) -> float:
    value = env.float(name, default)
    if not low < value <= high:
        raise SettingsError(
            f"{name} must be more than {low:g} and at most {high:g} {unit} "
            f"(the privacy policy's limit), got {value:g}"
        )
    return value


def _every_service(
    env: Env, name: str, required: tuple[str, ...], what: str, implied: str = ""
) -> tuple[str, ...]:
    """A list of services that must be exactly the ones holding personal data (any order).

    A missing service would let the request complete while its data remains; an
    unknown one would never answer, so the request could never complete.
    """
    listed = env.list(name, required)
    if implied and implied not in listed:
        listed = (*listed, implied)
    missing = [svc for svc in required if svc not in listed]
    unknown = [svc for svc in listed if svc not in required]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"{', '.join(missing)} hold personal data but are missing")
        if unknown:
            problems.append(f"{', '.join(unknown)} hold none and would never answer")
        raise SettingsError(
            f"{name} must list {', '.join(required)} ({what} cannot complete without every "
            f"service that holds personal data): {'; '.join(problems)}"
        )
    return tuple(dict.fromkeys(listed))


@dataclass(frozen=True)
class RetentionPolicy:
    image_ttl: timedelta
    download_grace: timedelta
    sweep_interval: float
    due_interval: float
    orphan_grace: timedelta
    log_age: timedelta
    log_purge_interval: float
    erasure_deadline: timedelta
    overdue_after: timedelta
    erasure_retry: timedelta
    export_ttl: timedelta
    session_ttl: timedelta
    erasure_services: tuple[str, ...]
    exporters: tuple[str, ...]
    policy_notice: timedelta

    @classmethod
    def from_env(cls, env: Env) -> RetentionPolicy:
        ttl = env.int("RETENTION_IMAGE_TTL", MAX_IMAGE_TTL_S)
        if not 0 < ttl <= MAX_IMAGE_TTL_S:
            raise SettingsError(
                f"RETENTION_IMAGE_TTL must be 1 to {MAX_IMAGE_TTL_S} seconds "
                f"(the policy's 24 hours), got {ttl}"
            )
        grace = env.int("RETENTION_DOWNLOAD_GRACE", 300)
        if not 0 <= grace <= ttl:
            raise SettingsError(
                "RETENTION_DOWNLOAD_GRACE must be between 0 and RETENTION_IMAGE_TTL"
            )
        sweep = env.float("RETENTION_SWEEP_INTERVAL", 300.0)
        if not 0 < sweep <= ttl:
            raise SettingsError(
                "RETENTION_SWEEP_INTERVAL must be positive and at most RETENTION_IMAGE_TTL"
            )
        log_days = _bounded(env, "RETENTION_LOG_DAYS", MAX_LOG_DAYS, 0, MAX_LOG_DAYS, "days")
        erasure_days = _bounded(
            env, "RETENTION_ERASURE_DAYS", MAX_ERASURE_DAYS, 0, MAX_ERASURE_DAYS, "days"
        )
        erasure_deadline = timedelta(days=erasure_days)
        overdue = timedelta(
            seconds=env.float("RETENTION_OVERDUE_AFTER", float(DEFAULT_OVERDUE_AFTER_S))
        )
        if not timedelta(0) < overdue < erasure_deadline:
            raise SettingsError(
                "RETENTION_OVERDUE_AFTER (seconds) must be positive and shorter than "
                "RETENTION_ERASURE_DAYS, so open requests are flagged well before their deadline"
            )
        export_ttl = env.int("RETENTION_EXPORT_TTL", MAX_IMAGE_TTL_S)
        if not 0 < export_ttl <= MAX_IMAGE_TTL_S:
            raise SettingsError(
                f"RETENTION_EXPORT_TTL must be 1 to {MAX_IMAGE_TTL_S} seconds, got {export_ttl}"
            )
        session_ttl = env.int("RETENTION_SESSION_TTL", min(DEFAULT_SESSION_TTL_S, ttl))
        if not 0 < session_ttl <= ttl:
            raise SettingsError(
                f"RETENTION_SESSION_TTL must be 1 to RETENTION_IMAGE_TTL ({ttl}) seconds, "
                f"got {session_ttl}"
            )
        purge_interval = env.float("RETENTION_LOG_PURGE_INTERVAL", 3600.0)
        if not 0 < purge_interval <= 86_400:
            raise SettingsError(
                "RETENTION_LOG_PURGE_INTERVAL must be positive and at most 86400 seconds"
            )
        # Retention's own part is always awaited, listed or not.
        services = _every_service(
            env, "RETENTION_ERASURE_SERVICES", SERVICES_WITH_USER_DATA, "an erasure", "retention"
        )
        exporters = _every_service(env, "RETENTION_EXPORTERS", EXPORTERS, "an export")
        retry = env.float("RETENTION_ERASURE_RETRY", 600.0)
        retry_limit = min(
            MAX_ERASURE_RETRY_S, erasure_deadline.total_seconds() / MIN_RETRIES_BEFORE_DEADLINE
        )
        if not 0 < retry <= retry_limit:
            raise SettingsError(
                f"RETENTION_ERASURE_RETRY must be more than 0 and at most {retry_limit:g} seconds "
                f"(a lost erasure order is re-sent at least {MIN_RETRIES_BEFORE_DEADLINE} times "
                f"before the RETENTION_ERASURE_DAYS deadline), got {retry:g}"
            )
        notice_days = env.int("POLICY_NOTICE_DAYS", MIN_POLICY_NOTICE_DAYS)
        if not MIN_POLICY_NOTICE_DAYS <= notice_days <= 366:
            raise SettingsError(
                f"POLICY_NOTICE_DAYS must be {MIN_POLICY_NOTICE_DAYS} to 366 days (the privacy "
                f"policy promises a material change is mailed at least {MIN_POLICY_NOTICE_DAYS} "
                f"days before it takes effect), got {notice_days}"
            )
        return cls(
            image_ttl=timedelta(seconds=ttl),
            download_grace=timedelta(seconds=grace),
            sweep_interval=sweep,
            due_interval=min(1.0, sweep),
            orphan_grace=timedelta(seconds=min(env.int("RETENTION_ORPHAN_GRACE", 600), ttl)),
            log_age=timedelta(days=log_days),
            log_purge_interval=purge_interval,
            erasure_deadline=erasure_deadline,
            overdue_after=overdue,
            erasure_retry=timedelta(seconds=retry),
            export_ttl=timedelta(seconds=export_ttl),
            session_ttl=timedelta(seconds=session_ttl),
            erasure_services=services,
            exporters=exporters,
            policy_notice=timedelta(days=notice_days),
        )
