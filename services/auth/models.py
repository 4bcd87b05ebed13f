"""Auth's tables: the only place names, emails and credentials are stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # None for an account that only ever signed in through OAuth, and until the address
    # is confirmed (the pending sign-up's hash waits in its confirm token).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    email_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A new address waiting for confirmation; replaces `email` once confirmed.
    pending_email: Mapped[str | None] = mapped_column(String(320))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # AI metadata defaults for jobs that name none; "" means the deployment default.
    vision_provider: Mapped[str] = mapped_column(String(20), default="", server_default="")
    language: Mapped[str] = mapped_column(String(35), default="", server_default="")


class Session(Base):
    """A signed-in browser or client; only the SHA-256 of the token is kept.

    `expires_at` is the absolute expiry; the idle expiry is `last_seen_at` plus
    the idle timeout setting.
    """

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    """An API key: public lookup prefix plus a keyed hash of the whole key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EmailToken(Base):
    """A single-use, expiring token sent by email; only its SHA-256 is kept.

    `purpose` is confirm, reset or change_email; `email` is the address the
    token was sent to (it must still be the relevant address when used). A
    confirm token carries the name and password hash its sign-up chose: an
    unconfirmed account holds no password, and whoever confirms the address
    gets the credentials of the sign-up they confirm, nothing anyone else set.
    """

    __tablename__ = "email_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))


class LoginFailure(Base):
    """Failed-login counter per account or source address, keyed by an HMAC (no email, no IP)."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OAuthIdentity(Base):
    """A provider account linked to a user (no provider tokens are kept)."""

    __tablename__ = "oauth_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OAuthState(Base):
    """A sign-in in flight: state (hashed), PKCE verifier and nonce, for ten minutes."""

    __tablename__ = "oauth_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(50))
    code_verifier: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    # Web app path to land on afterwards (validated by the gateway and again here).
    next_path: Mapped[str] = mapped_column(String(500), default="", server_default="")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ApiCallRecord(Base):
    """One authenticated public API call (the call log): ids, route template, status, timing."""

    __tablename__ = "api_calls"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    key_id: Mapped[str | None] = mapped_column(String(36))
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
