"""Staff credentials for the compliance API (the kernel's staff token, RETENTION_STAFF_TOKEN)."""

from __future__ import annotations

from picopt.kernel import staff
from picopt.kernel.settings import Settings
from picopt.kernel.staff import METADATA_KEY, require_staff, staff_metadata

__all__ = ["METADATA_KEY", "require_staff", "staff_metadata", "staff_token"]


def staff_token(settings: Settings) -> str:
    """RETENTION_STAFF_TOKEN, else a token generated once into var/ for a one-machine run."""
    return staff.staff_token(settings, "retention")
