"""What the privacy page states, computed from the settings the services run with.

The retention durations come from `services.retention.policy` (the same
parser retention uses, so the page can never promise something else than
what is enforced); the AI providers from picopt.vision_providers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from picopt.kernel.settings import Env
from picopt.vision_providers import enabled_providers, sends_images_off_machine
from services.retention.policy import RetentionPolicy


@dataclass(frozen=True)
class Cookie:
    name: str
    purpose: str
    lifetime: str


@dataclass(frozen=True)
class PrivacyFacts:
    image_ttl: str
    download_grace: str
    log_age: str
    erasure_deadline: str
    export_ttl: str
    policy_notice: str
    ai_providers: tuple[tuple[str, bool], ...]
    cookies: tuple[Cookie, ...]


def duration(value: timedelta) -> str:
    """A duration in the unit a reader expects: "24 hours", "90 days", "5 minutes"."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def privacy_facts(env: Env) -> PrivacyFacts:
    policy = RetentionPolicy.from_env(env)
    secure = env.bool("SESSION_COOKIE_SECURE", True)
    providers = enabled_providers(env.env)
    return PrivacyFacts(
        image_ttl=duration(policy.image_ttl),
        download_grace=duration(policy.download_grace),
        log_age=duration(policy.log_age),
        erasure_deadline=duration(policy.erasure_deadline),
        export_ttl=duration(policy.export_ttl),
        policy_notice=duration(policy.policy_notice),
        ai_providers=tuple((p, sends_images_off_machine(p)) for p in providers),
        cookies=(
            Cookie(
                "__Host-session" if secure else "session",
                "keeps you signed in (HttpOnly, SameSite=Lax)",
                "until you sign out or the session expires",
            ),
            Cookie(
                "csrf_token",
                "proves that a change comes from this site's pages (double-submit check)",
                "same as the session",
            ),
            Cookie("oauth_state", "ties a provider sign-in to this browser", "10 minutes"),
        ),
    )
