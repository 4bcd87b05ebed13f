"""External identities: signing in with GitHub, Google or an OIDC issuer, and the account's
connected sign-in methods.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database, utcnow
from picopt.kernel.errors import FailedPrecondition, NotFound, Unauthenticated
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import Outbox
from services.auth.accounts import Accounts
from services.auth.models import OAuthIdentity, User
from services.auth.rules import AuthConfig, normalize_email, usable
from services.auth.sessions import SignedIn, open_session

log = get_logger(__name__)


@dataclass(frozen=True)
class SignInMethods:
    """How an account can sign in: linked provider identities, and a password or not."""

    identities: list[OAuthIdentity]
    has_password: bool


@dataclass(frozen=True)
class Vouched:
    """What a provider said about the person signing in."""

    provider: str
    subject: str
    email: str
    email_verified: bool
    name: str


class ExternalIdentities:
    def __init__(
        self, db: Database, outbox: Outbox, config: AuthConfig, accounts: Accounts
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.config = config
        self.accounts = accounts

    def sign_in_external(
        self,
        provider: str,
        subject: str,
        email: str,
        email_verified: bool,
        name: str,
        *,
        trusted_email: bool = True,
        signed_in_user_id: str = "",
    ) -> tuple[SignedIn, bool]:
        """Sign in through a provider identity.

        A provider whose verified emails the operator trusts (`trusted_email`: GitHub,
        Google, or OAUTH_<NAME>_TRUST_EMAIL) links a new identity to the account with that
        address, or creates one. Any other provider only signs in identities already
        connected, and connects a new one to the account signed in in this browser
        (`signed_in_user_id`), never by email: whoever runs that issuer could otherwise
        name anyone's address and take their account.

        Two first sign-ins for one address (or one identity) at once both find nothing and
        both insert; the loser's unique violation means the winner's rows now exist, so it
        tries once more and signs in to the same account.
        """
        who = Vouched(provider, subject, email, email_verified, name)
        try:
            return self._sign_in_once(who, trusted_email, signed_in_user_id)
        except IntegrityError:
            log.info("external_sign_in_raced", provider=provider)
            return self._sign_in_once(who, trusted_email, signed_in_user_id)

    def _sign_in_once(
        self, who: Vouched, trusted_email: bool, signed_in_user_id: str
    ) -> tuple[SignedIn, bool]:
        """One attempt of `sign_in_external`.

        Linking to an existing account that never confirmed its address claims it
        (`Accounts.claim`): whoever created it did not prove the mailbox, the provider did,
        so every credential set before (password, sessions, API keys, email tokens, a
        pending address change) is revoked and the provider's name replaces theirs.
        """
        created = False
        with self.db.session() as s:
            identity = s.scalar(
                select(OAuthIdentity).where(
                    OAuthIdentity.provider == who.provider, OAuthIdentity.subject == who.subject
                )
            )
            user = s.get(User, identity.user_id) if identity else None
            if user is None and not trusted_email:
                user = self._signed_in_account(s, signed_in_user_id)
                self._link(s, user, who.provider, who.subject)
            elif user is None:
                if not who.email_verified or not who.email:
                    raise Unauthenticated(
                        "the provider did not vouch for an email address",
                        code="oauth_email_unverified",
                    )
                address = normalize_email(who.email)
                user = s.scalar(select(User).where(User.email == address).with_for_update())
                if user is None:
                    user = User(
                        id=str(uuid.uuid4()),
                        name=(who.name.strip() or address.split("@")[0])[:200],
                        email=address,
                        password_hash=None,
                        created_at=utcnow(),
                    )
                    s.add(user)
                    s.flush()
                    self.outbox.add(
                        s, "account.created", events_pb2.AccountCreated(user_id=user.id)
                    )
                    created = True
                elif user.email_confirmed_at is None:
                    self.accounts.claim(s, user, via=f"provider:{who.provider}")
                    user.name = (who.name.strip() or user.name)[:200]
                self._link(s, user, who.provider, who.subject)
                self.accounts.mark_confirmed(s, user)
            if user.disabled_at is not None:
                raise Unauthenticated("this account is disabled", code="account_disabled")
            token, expires = open_session(s, user.id, self.config.session_ttl)
            s.flush()
            s.expunge(user)
        log.info("user_logged_in", user_id=user.id, provider=who.provider, created=created)
        return SignedIn(user, token, expires), created

    @staticmethod
    def _signed_in_account(s: DbSession, user_id: str) -> User:
        """The account a browser is signed in to, for connecting a provider not trusted
        for email; without one the sign-in is refused."""
        user = s.get(User, user_id, with_for_update=True) if user_id else None
        if user is None or not usable(user):
            raise Unauthenticated(
                "this provider can only sign in to an account it is connected to: sign in, "
                "then connect it on the account page",
                code="oauth_link_requires_sign_in",
            )
        return user

    @staticmethod
    def _link(s: DbSession, user: User, provider: str, subject: str) -> None:
        s.add(
            OAuthIdentity(
                id=str(uuid.uuid4()),
                user_id=user.id,
                provider=provider,
                subject=subject,
                created_at=utcnow(),
            )
        )

    def sign_in_methods(self, user_id: str) -> SignInMethods:
        with self.db.session(readonly=True) as s:
            user = s.get(User, user_id)
            if user is None or user.disabled_at is not None:
                raise NotFound("user not found")
            rows = list(
                s.scalars(
                    select(OAuthIdentity)
                    .where(OAuthIdentity.user_id == user_id)
                    .order_by(OAuthIdentity.created_at, OAuthIdentity.id)
                )
            )
            s.expunge_all()
            return SignInMethods(rows, user.password_hash is not None)

    def unlink_identity(self, user_id: str, identity_id: str) -> None:
        """Removes a provider identity unless it is the account's last way to sign in."""
        with self.db.session() as s:
            user = s.get(User, user_id, with_for_update=True)  # serializes concurrent unlinks
            row = s.get(OAuthIdentity, identity_id) if identity_id else None
            mine = row is not None and row.user_id == user_id
            if user is None or user.disabled_at is not None or row is None or not mine:
                raise NotFound("sign-in method not found", code="identity_not_found")
            others = s.scalar(
                select(func.count())
                .select_from(OAuthIdentity)
                .where(OAuthIdentity.user_id == user_id, OAuthIdentity.id != identity_id)
            )
            if user.password_hash is None and not others:
                raise FailedPrecondition(
                    "this is the last way to sign in to the account; set a password first "
                    "(reset it by email) or link another provider",
                    code="last_sign_in_method",
                )
            provider = row.provider
            s.delete(row)
        log.info("identity_unlinked", user_id=user_id, identity_id=identity_id, provider=provider)
