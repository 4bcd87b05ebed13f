"""A tiny service schema used to exercise Database.migrate and the consumer's transactions."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class DemoBase(DeclarativeBase):
    """Metadata of the demo service."""


class Widget(DemoBase):
    """One row per handled event, so tests can count handler effects."""

    __tablename__ = "widgets"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(100))
