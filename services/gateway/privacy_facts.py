"""The privacy facts the gateway states, asked from the services that enforce them.

Retention answers the durations it enforces (`GetRetentionFacts`), vision the AI providers it
runs (`GetProviders`): the privacy page and `GET /v1/privacy` can never promise something the
running services do not do. Each answer is reused for `FRESH_S`; while its backend is down the
last answer is served for up to `STALE_S` more (logged), after which the fact is reported as
unavailable (503) rather than guessed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from picopt.kernel.logs import get_logger
from picopt.retention.v1 import retention_pb2
from picopt.vision.v1 import vision_pb2
from services.gateway.backends import calling
from services.gateway.problems import Problem

log = get_logger(__name__)

FRESH_S = 30.0
STALE_S = 3600.0
# The privacy policy's bound on any image's life: an upload's deadline while retention cannot
# be asked. Retention tracks every upload from `job.submitted` and applies its own (never
# longer) lifetime, and its sweep deletes anything older, so the bound only has to be safe.
POLICY_MAX_IMAGE_TTL = timedelta(hours=24)

T = TypeVar("T")


@dataclass(frozen=True)
class RetentionFacts:
    image_ttl: timedelta
    download_grace: timedelta
    log_age: timedelta
    erasure_deadline: timedelta
    export_ttl: timedelta
    session_ttl: timedelta
    policy_notice: timedelta

    @classmethod
    def from_reply(cls, reply: retention_pb2.GetRetentionFactsResponse) -> RetentionFacts:
        return cls(
            image_ttl=reply.image_ttl.ToTimedelta(),
            download_grace=reply.download_grace.ToTimedelta(),
            log_age=reply.log_age.ToTimedelta(),
            erasure_deadline=reply.erasure_deadline.ToTimedelta(),
            export_ttl=reply.export_ttl.ToTimedelta(),
            session_ttl=reply.session_ttl.ToTimedelta(),
            policy_notice=reply.policy_notice.ToTimedelta(),
        )


@dataclass(frozen=True)
class ProviderFacts:
    default: str
    # (name, sends images off the machine), the default first.
    providers: tuple[tuple[str, bool], ...]

    @classmethod
    def from_reply(cls, reply: vision_pb2.GetProvidersResponse) -> ProviderFacts:
        return cls(
            default=reply.default_provider,
            providers=tuple((p.name, p.sends_images_off_machine) for p in reply.providers),
        )


class _Remembered(Generic[T]):
    """One backend's answer: fresh for `fresh_s`, then served while the backend is down for
    at most `stale_s` more."""

    def __init__(
        self,
        service: str,
        fetch: Callable[[], T],
        clock: Callable[[], float],
        fresh_s: float,
        stale_s: float,
    ) -> None:
        self.service = service
        self._fetch = fetch
        self._clock = clock
        self._fresh_s = fresh_s
        self._stale_s = stale_s
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at = 0.0

    def get(self) -> T:
        with self._lock:
            now = self._clock()
            if self._value is not None and now - self._at < self._fresh_s:
                return self._value
            try:
                with calling(self.service):
                    value = self._fetch()
            except Problem:
                age = now - self._at
                if self._value is not None and age < self._fresh_s + self._stale_s:
                    log.warning("privacy_facts_stale", service=self.service, age_s=round(age))
                    return self._value
                log.warning("privacy_facts_unavailable", service=self.service)
                raise
            self._value, self._at = value, now
            return value


class PrivacyFactsSource:
    """Retention's durations and vision's providers, asked over gRPC and remembered briefly."""

    def __init__(
        self,
        backends: Any,
        clock: Callable[[], float] = time.monotonic,
        fresh_s: float = FRESH_S,
        stale_s: float = STALE_S,
    ) -> None:
        def remembered(service: str, fetch: Callable[[], T]) -> _Remembered[T]:
            return _Remembered(service, fetch, clock, fresh_s, stale_s)

        self._retention = remembered(
            "retention",
            lambda: RetentionFacts.from_reply(
                backends.retention.GetRetentionFacts(retention_pb2.GetRetentionFactsRequest())
            ),
        )
        self._vision = remembered(
            "vision",
            lambda: ProviderFacts.from_reply(
                backends.vision.GetProviders(vision_pb2.GetProvidersRequest())
            ),
        )

    def retention(self) -> RetentionFacts:
        """Retention's durations; a 503 Problem when it has not answered for too long."""
        return self._retention.get()

    def providers(self) -> ProviderFacts:
        """Vision's providers; a 503 Problem when it has not answered for too long."""
        return self._vision.get()

    def image_ttl(self) -> timedelta:
        """How long an upload may live: retention's answer, else the policy's bound."""
        try:
            return self.retention().image_ttl
        except Problem:
            return POLICY_MAX_IMAGE_TTL


def duration(value: timedelta) -> str:
    """A duration in the unit a reader expects: "24 hours", "90 days", "5 minutes"."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
