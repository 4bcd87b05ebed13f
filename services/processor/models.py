"""Processor's tables: jobs and their outputs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ACTIVE = ("queued", "processing", "analyzing")
FINAL = ("done", "failed", "cancelled")


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    input_key: Mapped[str] = mapped_column(String(200))
    input_name: Mapped[str] = mapped_column(String(255), default="")
    input_format: Mapped[str] = mapped_column(String(16), default="")
    input_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    input_width: Mapped[int] = mapped_column(Integer, default=0)
    input_height: Mapped[int] = mapped_column(Integer, default=0)
    output_format: Mapped[str] = mapped_column(String(16), default="")
    output_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    output_width: Mapped[int] = mapped_column(Integer, default=0)
    output_height: Mapped[int] = mapped_column(Integer, default=0)
    result_key: Mapped[str] = mapped_column(String(200), default="")
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    ssimulacra2: Mapped[float] = mapped_column(Float, default=0.0)
    no_gain: Mapped[bool] = mapped_column(Boolean, default=False)
    blurhash: Mapped[str] = mapped_column(String(200), default="")
    lqip: Mapped[str] = mapped_column(Text, default="")
    metadata_pb: Mapped[bytes | None] = mapped_column(LargeBinary)
    error_code: Mapped[str] = mapped_column(String(64), default="")
    error_message: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processing_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    downloaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the results were deleted; the preview, BlurHash and file name went with them.
    results_deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
