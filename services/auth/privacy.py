"""Auth's part of privacy requests: erasure, log purge, export and policy-mail recipients.

Erasure first disables the account (sessions, API keys and pending email tokens
revoked) and then deletes every row auth holds about the user: auth is the
only holder of names and emails, so after this no database names the person.
Mail files (MAIL_TRANSPORT=file) sent to any of the user's addresses go too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from picopt.kernel.errors import NotFound
from picopt.kernel.exports import ROWS_PER_FETCH, ExportPart
from picopt.kernel.grpc_server import GrpcServer
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import Outbox
from picopt.kernel.privacy import PrivacyParticipant
from picopt.kernel.protos import service_name, to_timestamp
from picopt.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from services.auth.models import ApiCallRecord, ApiKey, EmailToken, OAuthIdentity, User
from services.auth.models import Session as SignInSession
from services.auth.service import AuthService, normalize_email

log = get_logger(__name__)

MAX_RECIPIENT_PAGE = 500


class AuthPrivacy:
    def __init__(self, service: AuthService, outbox: Outbox) -> None:
        self.service = service
        # Auth answers logs.purge itself (services/auth/events.py).
        self.participant = PrivacyParticipant("auth", outbox, self.erase, None, self.export)

    def erase(self, s: Session, user_id: str) -> dict[str, int]:
        addresses = self._addresses(s, user_id)
        disabled = self.service.disable_user(s, user_id)
        erased = self.service.erase_user(s, user_id)
        mail_files = self.service.notify.mailer.forget(addresses)
        return {
            **{f"revoked_{k}": v for k, v in disabled.items()},
            **erased,
            "mail_files": mail_files,
        }

    def _addresses(self, s: Session, user_id: str) -> set[str]:
        """Every address auth ever mailed for the user: current, pending, and tokens'."""
        user = s.get(User, user_id)
        found = set(s.scalars(select(EmailToken.email).where(EmailToken.user_id == user_id)))
        if user is not None:
            found |= {user.email, user.pending_email or ""}
        return {a for a in found if a}

    def export(self, user_id: str) -> Iterator[ExportPart]:
        """Everything auth holds about the user, no secrets (hashes, tokens) and no cap:
        the API call log is streamed whole (it is purged after the log retention)."""
        with self.service.db.session(readonly=True) as s:
            user = s.get(User, user_id)
            if user is None:
                return
            yield ExportPart.one(
                "profile.json",
                "users",
                {
                    "id": user.id,
                    "name": user.name,
                    "email": user.email,
                    "email_confirmed_at": user.email_confirmed_at,
                    "pending_email": user.pending_email,
                    "has_password": user.password_hash is not None,
                    "created_at": user.created_at,
                    "disabled_at": user.disabled_at,
                    "vision_provider": user.vision_provider,
                    "language": user.language,
                },
            )
            yield ExportPart(
                "sign_in_methods.json",
                "oauth_identities",
                (
                    {"provider": i.provider, "subject": i.subject, "linked_at": i.created_at}
                    for i in s.scalars(
                        select(OAuthIdentity).where(OAuthIdentity.user_id == user_id)
                    )
                ),
            )
            yield ExportPart(
                "email_tokens.json",
                "email_tokens",
                (
                    {
                        "purpose": t.purpose,
                        "sent_to": t.email,
                        "created_at": t.created_at,
                        "expires_at": t.expires_at,
                        "used_at": t.used_at,
                    }
                    for t in s.scalars(
                        select(EmailToken)
                        .where(EmailToken.user_id == user_id)
                        .order_by(EmailToken.created_at)
                    )
                ),
            )
            yield ExportPart(
                "api_keys.json",
                "api_keys",
                (
                    {
                        "id": k.id,
                        "name": k.name,
                        "prefix": k.prefix,
                        "created_at": k.created_at,
                        "last_used_at": k.last_used_at,
                        "revoked_at": k.revoked_at,
                    }
                    for k in s.scalars(select(ApiKey).where(ApiKey.user_id == user_id))
                ),
            )
            yield ExportPart(
                "sessions.json",
                "sessions",
                (
                    {
                        "created_at": x.created_at,
                        "expires_at": x.expires_at,
                        "last_seen_at": x.last_seen_at,
                    }
                    for x in s.scalars(
                        select(SignInSession).where(SignInSession.user_id == user_id)
                    )
                ),
            )
            calls = s.execute(
                select(
                    ApiCallRecord.at,
                    ApiCallRecord.method,
                    ApiCallRecord.route,
                    ApiCallRecord.status,
                    ApiCallRecord.duration_ms,
                    ApiCallRecord.key_id,
                )
                .where(ApiCallRecord.user_id == user_id)
                .order_by(ApiCallRecord.at, ApiCallRecord.id)
                .execution_options(yield_per=ROWS_PER_FETCH)
            )
            yield ExportPart(
                "api_calls.json",
                "api_calls",
                (
                    {
                        "at": at,
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": duration_ms,
                        "api_key_id": key_id,
                    }
                    for at, method, route, status, duration_ms, key_id in calls
                ),
            )

    def recipients(self, after_user_id: str, page_size: int) -> list[User]:
        """Enabled users in id order after a cursor: the audience of a policy mail."""
        size = min(max(page_size or 100, 1), MAX_RECIPIENT_PAGE)
        with self.service.db.session(readonly=True) as s:
            rows = list(
                s.scalars(
                    select(User)
                    .where(User.id > after_user_id, User.disabled_at.is_(None))
                    .order_by(User.id)
                    .limit(size)
                )
            )
            s.expunge_all()
            return rows

    def recipient(self, user_id: str) -> User:
        """One user, to mail them what they asked for (an export delivered by staff)."""
        with self.service.db.session(readonly=True) as s:
            user = s.get(User, user_id) if user_id else None
            if user is None:
                raise NotFound("user not found", code="user_not_found")
            s.expunge(user)
            return user

    def find(self, email: str) -> User:
        """The account behind an address, current or pending, for compliance staff."""
        address = normalize_email(email)
        with self.service.db.session(readonly=True) as s:
            user = s.scalar(
                select(User).where(or_(User.email == address, User.pending_email == address))
            )
            if user is None:
                raise NotFound("no account has this address", code="user_not_found")
            s.expunge(user)
            log.info("staff_user_lookup", user_id=user.id)
            return user

    def register(self, server: GrpcServer) -> None:
        self.participant.register(server)
        server.add(
            privacy_pb2_grpc.add_RecipientServiceServicer_to_server,
            _RecipientServicer(self),
            [service_name(privacy_pb2.DESCRIPTOR, "RecipientService")],
        )


class _RecipientServicer(privacy_pb2_grpc.RecipientServiceServicer):
    def __init__(self, privacy: AuthPrivacy) -> None:
        self.privacy = privacy

    def ListRecipients(
        self, request: privacy_pb2.ListRecipientsRequest, context: Any
    ) -> privacy_pb2.ListRecipientsResponse:
        users = self.privacy.recipients(request.after_user_id, request.page_size)
        return privacy_pb2.ListRecipientsResponse(recipients=[_recipient(u) for u in users])

    def GetRecipient(
        self, request: privacy_pb2.GetRecipientRequest, context: Any
    ) -> privacy_pb2.GetRecipientResponse:
        return privacy_pb2.GetRecipientResponse(
            recipient=_recipient(self.privacy.recipient(request.user_id))
        )

    def FindRecipient(
        self, request: privacy_pb2.FindRecipientRequest, context: Any
    ) -> privacy_pb2.FindRecipientResponse:
        user = self.privacy.find(request.email)
        return privacy_pb2.FindRecipientResponse(
            recipient=_recipient(user),
            created_at=to_timestamp(user.created_at),
            email_confirmed=user.email_confirmed_at is not None,
            disabled=user.disabled_at is not None,
        )


def _recipient(user: User) -> privacy_pb2.Recipient:
    return privacy_pb2.Recipient(user_id=user.id, email=user.email, name=user.name)
