"""Auth's part of privacy requests: erasure, log purge, export and policy-mail recipients.

Erasure first disables the account (sessions, API keys and pending email tokens
revoked) and then deletes every row auth holds about the user: auth is the
only holder of names and emails, so after this no database names the person.
Mail files (MAIL_TRANSPORT=file) sent to any of the user's addresses go too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from picopt.kernel.grpc_server import GrpcServer
from picopt.kernel.messaging import Outbox
from picopt.kernel.privacy import PrivacyParticipant
from picopt.kernel.protos import service_name
from picopt.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from services.auth.models import ApiKey, EmailToken, OAuthIdentity, User
from services.auth.models import Session as SignInSession
from services.auth.service import AuthService

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

    def export(self, user_id: str) -> dict[str, Any]:
        with self.service.db.session(readonly=True) as s:
            user = s.get(User, user_id)
            if user is None:
                return {}
            identities = list(
                s.scalars(select(OAuthIdentity).where(OAuthIdentity.user_id == user_id))
            )
            keys = list(s.scalars(select(ApiKey).where(ApiKey.user_id == user_id)))
            sessions = list(
                s.scalars(select(SignInSession).where(SignInSession.user_id == user_id))
            )
            profile = {
                "id": user.id,
                "name": user.name,
                "email": user.email,
                "email_confirmed_at": user.email_confirmed_at,
                "pending_email": user.pending_email,
                "created_at": user.created_at,
                "disabled_at": user.disabled_at,
                "vision_provider": user.vision_provider,
                "language": user.language,
            }
            sign_in = {
                "password": user.password_hash is not None,
                "external": [
                    {"provider": i.provider, "subject": i.subject, "linked_at": i.created_at}
                    for i in identities
                ],
            }
            api_keys = [
                {
                    "id": k.id,
                    "name": k.name,
                    "prefix": k.prefix,
                    "created_at": k.created_at,
                    "last_used_at": k.last_used_at,
                    "revoked_at": k.revoked_at,
                }
                for k in keys
            ]
            session_rows = [
                {
                    "created_at": x.created_at,
                    "expires_at": x.expires_at,
                    "last_seen_at": x.last_seen_at,
                }
                for x in sessions
            ]
        calls = [
            {
                "at": c.at,
                "method": c.method,
                "route": c.route,
                "status": c.status,
                "duration_ms": c.duration_ms,
                "api_key_id": c.key_id,
            }
            for c in self.service.list_api_calls(user_id, 500)
        ]
        return {
            "profile.json": profile,
            "sign_in_methods.json": sign_in,
            "api_keys.json": api_keys,
            "sessions.json": session_rows,
            "api_calls.json": calls,
        }

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
        return privacy_pb2.ListRecipientsResponse(
            recipients=[
                privacy_pb2.Recipient(user_id=u.id, email=u.email, name=u.name) for u in users
            ]
        )
