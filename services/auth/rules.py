"""What every part of auth agrees on: its settings, what an address is, when an account may
act, and the errors that say why it may not."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from picopt.kernel.errors import FailedPrecondition, InvalidArgument
from services.auth.models import User
from services.auth.throttle import ThrottleConfig

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CONFIRM, RESET, CHANGE_EMAIL = "confirm", "reset", "change_email"
# last_seen_at / last_used_at are written at most this often (a write per request would be
# wasteful).
SEEN_GRANULARITY = timedelta(seconds=60)
# Providers where dots in the local part do not matter (Gmail ignores them).
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


@dataclass(frozen=True)
class AuthConfig:
    secret: bytes
    # AUTH_SECRETS_OLD, newest first: API keys hashed under them still verify (and are
    # hashed again under `secret` when used); trial digests under them are still matched.
    old_secrets: tuple[bytes, ...] = ()
    session_ttl: timedelta = timedelta(days=14)
    session_idle_ttl: timedelta = timedelta(days=3)
    confirm_ttl: timedelta = timedelta(hours=24)
    reset_ttl: timedelta = timedelta(hours=1)
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidArgument("email is not a valid address", code="invalid_email")
    return email


def trial_address(email: str) -> str:
    """The mailbox behind an address, for the one-trial-per-mailbox rule only:
    `ada+promo@x` and `ada@x` are one mailbox, and at Gmail so is `a.d.a@gmail.com`.
    Sign-in and mail keep the address exactly as given."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS_DOMAINS:
        domain = _DOTLESS_DOMAINS[domain]
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidArgument("name must be 1 to 200 characters", code="invalid_name")
    return name


def usable(user: User | None) -> bool:
    """An account that may act: it exists, is not disabled and its address is confirmed."""
    return user is not None and user.disabled_at is None and user.email_confirmed_at is not None


def invalid_token() -> InvalidArgument:
    return InvalidArgument("the token is invalid, used or expired", code="invalid_token")


def unconfirmed() -> FailedPrecondition:
    return FailedPrecondition(
        "confirm your email address first: follow the link in the mail we sent",
        code="email_unconfirmed",
    )
