"""How long failed events are retried, and how long dead letters are kept.

Both come from settings (EVENT_*), with defaults an operator can live with: a
database failover or a broker restart is waited out, a bug reaches the
dead-letter queue within seconds, and no dead letter outlives the privacy
promises (24 h for anything derived from an image, 30 days for the rest).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from picopt.kernel.messaging.catalog import event_kind
from picopt.kernel.settings import Env, SettingsError

HOUR = 3600
DAY = 24 * HOUR
# A dead letter leaves at its TTL, or, if an inspection pass returned it behind a newer
# message, at most one more TTL later (quorum queues expire from the head only): twice
# the TTL must stay within the promise.
MAX_DLQ_TTL_S = 14 * DAY  # account data: erased within 30 days
MAX_DLQ_IMAGE_TTL_S = 12 * HOUR  # image content: gone within 24 hours


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter and a cap.

    A failure that is not transient gets `max_attempts` tries in all; transient ones
    (see `transient.is_transient`) are retried until `transient_for_s` have passed since
    the event first failed.
    """

    base_s: float = 1.0
    max_delay_s: float = 300.0
    max_attempts: int = 5
    transient_for_s: float = 6 * HOUR

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_delay_s < self.base_s:
            raise SettingsError("EVENT_RETRY_BASE_S must be > 0 and <= EVENT_RETRY_MAX_DELAY_S")
        if self.max_attempts < 1:
            raise SettingsError("EVENT_MAX_ATTEMPTS must be >= 1")
        if self.transient_for_s < 0:
            raise SettingsError("EVENT_RETRY_TRANSIENT_FOR_S must be >= 0")

    @classmethod
    def from_env(cls, env: Env) -> RetryPolicy:
        return cls(
            base_s=env.float("EVENT_RETRY_BASE_S", cls.base_s),
            max_delay_s=env.float("EVENT_RETRY_MAX_DELAY_S", cls.max_delay_s),
            max_attempts=env.int("EVENT_MAX_ATTEMPTS", cls.max_attempts),
            transient_for_s=env.float("EVENT_RETRY_TRANSIENT_FOR_S", cls.transient_for_s),
        )

    def levels_ms(self) -> list[int]:
        """One delay queue per level: base, 2x base, 4x base ... and the cap."""
        levels: list[int] = []
        delay = self.base_s
        while delay < self.max_delay_s:
            levels.append(round(delay * 1000))
            delay *= 2
        levels.append(round(self.max_delay_s * 1000))
        return levels

    def delay_ms(self, retries: int, rng: random.Random | None = None) -> tuple[int, int]:
        """(level, jittered delay) for the retry after `retries` earlier ones.

        The level is the delay queue's TTL, the ceiling; the message's own expiration
        is drawn from the upper half of it, so events that failed together come back
        spread out.
        """
        levels = self.levels_ms()
        level = levels[min(retries, len(levels) - 1)]
        return level, round(level * (rng or random).uniform(0.5, 1.0))


@dataclass(frozen=True)
class DeadLetterPolicy:
    """Queue TTLs of the dead-letter queues."""

    ttl_s: int = 7 * DAY
    image_ttl_s: int = 6 * HOUR

    def __post_init__(self) -> None:
        if not 0 < self.ttl_s <= MAX_DLQ_TTL_S:
            raise SettingsError(f"EVENT_DLQ_TTL_S must be between 1 and {MAX_DLQ_TTL_S}")
        if not 0 < self.image_ttl_s <= MAX_DLQ_IMAGE_TTL_S:
            raise SettingsError(
                f"EVENT_DLQ_IMAGE_TTL_S must be between 1 and {MAX_DLQ_IMAGE_TTL_S}"
            )

    @classmethod
    def from_env(cls, env: Env) -> DeadLetterPolicy:
        return cls(
            ttl_s=env.int("EVENT_DLQ_TTL_S", cls.ttl_s),
            image_ttl_s=env.int("EVENT_DLQ_IMAGE_TTL_S", cls.image_ttl_s),
        )

    def ttl_for(self, event_type: str) -> int:
        """Seconds a dead letter of this event type is kept."""
        kind = event_kind(event_type)
        return self.image_ttl_s if kind is not None and kind.image_content else self.ttl_s


@dataclass(frozen=True)
class OutboxPolicy:
    """Bounds on the kernel's bookkeeping rows in every service database.

    Published outbox rows and processed-event ids are kept `keep_s` (at least as long as
    a dead letter, so a replayed event is still recognised as a duplicate). A row still
    unpublished after `stuck_after_s` is reported (log and gauge, for the alert); after
    `discard_after_s` it is deleted and logged, never kept forever.
    """

    keep_s: int = 7 * DAY
    stuck_after_s: int = HOUR
    discard_after_s: int = 7 * DAY

    def __post_init__(self) -> None:
        if self.keep_s <= 0 or self.stuck_after_s <= 0:
            raise SettingsError("OUTBOX_KEEP_DAYS and OUTBOX_STUCK_AFTER_S must be > 0")
        if self.discard_after_s <= self.stuck_after_s:
            raise SettingsError("OUTBOX_DISCARD_AFTER_DAYS must be longer than the stuck alert")

    @classmethod
    def from_env(cls, env: Env, dead_letters: DeadLetterPolicy | None = None) -> OutboxPolicy:
        policy = cls(
            keep_s=round(env.float("OUTBOX_KEEP_DAYS", cls.keep_s / DAY) * DAY),
            stuck_after_s=env.int("OUTBOX_STUCK_AFTER_S", cls.stuck_after_s),
            discard_after_s=round(
                env.float("OUTBOX_DISCARD_AFTER_DAYS", cls.discard_after_s / DAY) * DAY
            ),
        )
        if dead_letters is not None and policy.keep_s < dead_letters.ttl_s:
            raise SettingsError(
                "OUTBOX_KEEP_DAYS must be at least EVENT_DLQ_TTL_S: a replayed dead letter "
                "must still be recognised as a duplicate"
            )
        return policy
