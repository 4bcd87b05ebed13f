"""Typed access to the number of rows an UPDATE or DELETE touched."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult


def rowcount(result: object) -> int:
    """`Session.execute` is typed as returning `Result`; DML really returns a `CursorResult`."""
    return int(cast(CursorResult[Any], result).rowcount or 0)
