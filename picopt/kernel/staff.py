"""Staff credentials for internal gRPC APIs: a per-service token sent as call metadata.

Operations meant for staff (billing's credit adjustments and reconciliation, retention's
compliance API) refuse a call that does not carry `authorization: Bearer <token>`, so
reaching the service's port (another pod, a compromised gateway) is not enough to mint
credits or read requests. The token is `<SERVICE>_STAFF_TOKEN`; a one-machine run
generates it once into `var/<service>-staff.token`, where the staff commands find it.
"""

from __future__ import annotations

import hmac
from typing import Any

from picopt.kernel.errors import Unauthenticated
from picopt.kernel.settings import Settings, local_secret

METADATA_KEY = "authorization"


def staff_token(settings: Settings, service: str) -> str:
    """<SERVICE>_STAFF_TOKEN, else a token generated once into var/ for a one-machine run."""
    return settings.env.str(f"{service.upper()}_STAFF_TOKEN") or local_secret(
        settings.var_dir / f"{service}-staff.token"
    )


def staff_metadata(token: str) -> tuple[tuple[str, str], ...]:
    return ((METADATA_KEY, f"Bearer {token}"),)


def require_staff(context: Any, token: str) -> None:
    """Refuse (UNAUTHENTICATED) a call that does not carry the staff token."""
    sent = dict(context.invocation_metadata() or ()).get(METADATA_KEY, "")
    scheme, _, value = sent.partition(" ")
    if (
        not token
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(value.encode(), token.encode())
    ):
        raise Unauthenticated("staff credentials are required", code="staff_token_required")
