"""Retention's tables: what must be deleted when, and proof that it was."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class TrackedObject(Base):
    """A stored image and the moment it must be gone."""

    __tablename__ = "tracked_objects"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    delete_after: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Why delete_after has its value: "deadline" (24 h cap) or "download" (grace after download).
    cause: Mapped[str] = mapped_column(String(16), default="deadline")
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    reason: Mapped[str] = mapped_column(String(32), default="")


class DeletionRecord(Base):
    """Audit trail: ids, reason and time only, never personal data."""

    __tablename__ = "deletion_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    key: Mapped[str] = mapped_column(String(200), index=True)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    verified: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class SweepRun(Base):
    __tablename__ = "sweep_runs"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    orphans: Mapped[int] = mapped_column(Integer, default=0)
