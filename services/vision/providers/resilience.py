"""Retries with backoff and a circuit breaker for remote vision APIs.

A vision API that is down or rate-limited must not stall the job pipeline: calls retry a
bounded number of times with exponential backoff (honouring Retry-After), and after repeated
failed jobs the breaker opens so jobs go straight to the local provider until a trial call
succeeds again.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


class RemoteError(Exception):
    """A failed remote call; `reason` is a short code safe to log (never a response body)."""

    def __init__(
        self, reason: str, *, retryable: bool, status: int = 0, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), None if absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_s: float = 0.5
    max_s: float = 8.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff; a server's Retry-After wins, capped at max_s."""
        if retry_after is not None:
            return min(retry_after, self.max_s)
        ceiling = min(self.max_s, self.base_s * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


class CircuitBreaker:
    """Closed -> open after `threshold` consecutive failures -> half-open after `reset_s`."""

    def __init__(
        self, threshold: int = 5, reset_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = max(1, threshold)
        self._reset_s = reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._reset_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one trial call is let through."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> bool:
        """Count a failed call; returns True when this failure (re)opens the breaker."""
        with self._lock:
            self._failures += 1
            was_trial = self._trial_running
            self._trial_running = False
            if was_trial or self._failures >= self._threshold:
                self._opened_at = self._clock()
                return True
            return False
