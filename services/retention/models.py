"""Retention's tables: what must be deleted when, and proof that it was."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, String, Text
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


class ProcessingSession(Base):
    """A batch of uploads (a web or CLI session) whose images all go when it ends."""

    __tablename__ = "processing_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Set when the session expired or was closed; its images are then deleted.
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)


class SessionJob(Base):
    """Which session a job belongs to (learnt from job.submitted)."""

    __tablename__ = "session_jobs"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), index=True)


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


class PrivacyRequest(Base):
    """A data-subject request (erasure, export, correction) with its 30-day deadline."""

    __tablename__ = "privacy_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When account.erase was last sent; the retry timer re-sends after RETENTION_ERASURE_RETRY.
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RequestAudit(Base):
    """What happened to a request, when and by which service; ids and counts only."""

    __tablename__ = "request_audit"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str] = mapped_column(String(32))
    service: Mapped[str] = mapped_column(String(32), default="")
    detail: Mapped[str] = mapped_column(String(500), default="")


class ErasureConfirmation(Base):
    """One service's account.erased answer to an erasure request."""

    __tablename__ = "erasure_confirmations"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    confirmed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)


class DataExport(Base):
    """The archive of an export request: gathered, stored encrypted, gone within 24 hours."""

    __tablename__ = "data_exports"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    blob_key: Mapped[str] = mapped_column(String(200), default="")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class LogPurgeRun(Base):
    """One logs.purge order sent to every service."""

    __tablename__ = "log_purge_runs"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    older_than: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LogPurgeCount(Base):
    """A service's report of rows purged from one of its log tables."""

    __tablename__ = "log_purge_counts"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    purged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class PolicyVersion(Base):
    """A published privacy policy version; material ones are mailed to every user."""

    __tablename__ = "policy_versions"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    effective_date: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    material: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Fan-out progress: users are paged in id order; the cursor is the last id handled.
    notify_cursor: Mapped[str] = mapped_column(String(36), default="")
    notified: Mapped[int] = mapped_column(Integer, default=0)
    notification_done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PolicyNotice(Base):
    """A user mailed about a policy version: the primary key makes it once per user."""

    __tablename__ = "policy_notices"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
