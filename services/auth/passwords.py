"""Password policy (NIST SP 800-63B style): length only, plus a common-password list."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from picopt.kernel.errors import InvalidArgument

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def check_password(password: str) -> None:
    """8-128 characters, no composition rules, not one of the most common passwords."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidArgument(
            f"password must be {MIN_LENGTH} to {MAX_LENGTH} characters", code="invalid_password"
        )
    if password.lower() in common_passwords():
        raise InvalidArgument(
            "this password is one of the most commonly used; choose another",
            code="common_password",
        )
