"""Retention durations: settings whose defaults are the policy and which can only be shorter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from picopt.kernel.settings import Env, SettingsError

MAX_IMAGE_TTL_S = 86_400


@dataclass(frozen=True)
class RetentionPolicy:
    image_ttl: timedelta
    download_grace: timedelta
    sweep_interval: float
    due_interval: float
    orphan_grace: timedelta

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
        return cls(
            image_ttl=timedelta(seconds=ttl),
            download_grace=timedelta(seconds=grace),
            sweep_interval=sweep,
            due_interval=min(1.0, sweep),
            orphan_grace=timedelta(seconds=min(env.int("RETENTION_ORPHAN_GRACE", 600), ttl)),
        )
