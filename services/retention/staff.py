"""Staff credentials for the compliance API: a shared token sent as gRPC metadata."""

from __future__ import annotations

import hmac
from typing import Any

from picopt.kernel.errors import Unauthenticated
from picopt.kernel.settings import Settings, local_secret

METADATA_KEY = "authorization"


def staff_token(settings: Settings) -> str:
    """RETENTION_STAFF_TOKEN, else a token generated once into var/ for a one-machine run."""
    return settings.env.str("RETENTION_STAFF_TOKEN") or local_secret(
        settings.var_dir / "retention-staff.token"
    )


def staff_metadata(token: str) -> tuple[tuple[str, str], ...]:
    return ((METADATA_KEY, f"Bearer {token}"),)


def require_staff(context: Any, token: str) -> None:
    """Refuse (UNAUTHENTICATED) a call that does not carry the staff token."""
    sent = dict(context.invocation_metadata() or ()).get(METADATA_KEY, "")
    scheme, _, value = sent.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
        raise Unauthenticated("staff credentials are required", code="staff_token_required")
