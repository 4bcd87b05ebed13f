"""Accounts and their credentials: sign-up, email confirmation, password reset and change,
the profile.

An account is usable only once its address is confirmed: before that it holds no
password, cannot sign in, make API keys or change its address. Whoever first proves the
mailbox (a confirm or reset token, or a provider vouching for the address) claims it,
and every credential anyone set before is revoked (`Accounts.claim`).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database, utcnow
from picopt.kernel.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import Outbox
from services.auth import credentials
from services.auth.api_keys import revoke_user_keys
from services.auth.email_tokens import new_token, use_token
from services.auth.models import EmailToken, User
from services.auth.notify import Notifier
from services.auth.passwords import check_password
from services.auth.preferences import check_language, check_vision_provider
from services.auth.revocation import revoke_credentials
from services.auth.rules import (
    CHANGE_EMAIL,
    CONFIRM,
    RESET,
    AuthConfig,
    check_name,
    invalid_token,
    normalize_email,
    trial_address,
    unconfirmed,
    usable,
)
from services.auth.sessions import end_sessions, open_session
from services.auth.throttle import LoginThrottle, LoginThrottled

log = get_logger(__name__)


class Accounts:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        config: AuthConfig,
        notifier: Notifier,
        throttle: LoginThrottle,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.config = config
        self.notify = notifier
        self.throttle = throttle

    def email_digest(self, email: str, secret: bytes | None = None) -> str:
        """HMAC-SHA256 of the address as the trial sees it (`trial_address`): lets billing
        grant one trial per mailbox without seeing any address."""
        key = self.config.secret if secret is None else secret
        return hmac.new(key, trial_address(email).encode(), hashlib.sha256).hexdigest()

    def older_email_digests(self, email: str) -> list[str]:
        """The same digest under each old secret, so claims made before a rotation count."""
        return [self.email_digest(email, old) for old in self.config.old_secrets]

    def sign_up(self, name: str, email: str, password: str) -> None:
        """Same answer whether or not the address is taken; the next step arrives by email."""
        name = check_name(name)
        email = normalize_email(email)
        check_password(password)
        password_hash = credentials.hash_password(password)  # paid on both paths
        # The account holds no password until the address is confirmed: the choice waits
        # in the confirm token, so only the sign-up whose mail is followed sets it.
        user = User(
            id=str(uuid.uuid4()),
            name=name,
            email=email,
            password_hash=None,
            created_at=utcnow(),
        )
        try:
            with self.db.session() as s:
                s.add(user)
                s.flush()
                self.outbox.add(s, "account.created", events_pb2.AccountCreated(user_id=user.id))
                token = new_token(
                    s, user.id, CONFIRM, email, self.config.confirm_ttl, name, password_hash
                )
        except IntegrityError:
            self._signup_for_existing(email, name, password_hash)
            return
        log.info("user_signed_up", user_id=user.id)
        self.notify.confirm_email(email, token, self._hours(self.config.confirm_ttl))

    def _signup_for_existing(self, email: str, name: str, password_hash: str) -> None:
        """A confirmed account is told by mail; an unconfirmed one gets this sign-up's token.

        Following that token makes this sign-up's name and password the account's, so the
        owner of an address someone else pre-registered signs up normally and owns it.
        """
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.email == email))
            if user is None or user.disabled_at is not None:
                return
            if user.email_confirmed_at is None:
                token = new_token(
                    s, user.id, CONFIRM, email, self.config.confirm_ttl, name, password_hash
                )
            else:
                token = ""
        log.info("signup_for_existing_account", user_id=user.id)
        if token:
            self.notify.confirm_email(email, token, self._hours(self.config.confirm_ttl))
        else:
            self.notify.already_registered(email)

    @staticmethod
    def _hours(ttl: timedelta) -> int:
        return max(1, int(ttl.total_seconds() // 3600))

    def mark_confirmed(self, s: DbSession, user: User) -> None:
        """The first confirmed address of an account announces account.confirmed."""
        if user.email_confirmed_at is None:
            user.email_confirmed_at = utcnow()
            self.outbox.add(
                s,
                "account.confirmed",
                events_pb2.AccountConfirmed(
                    user_id=user.id,
                    email_digest=self.email_digest(user.email),
                    older_email_digests=self.older_email_digests(user.email),
                ),
            )

    def claim(self, s: DbSession, user: User, via: str) -> None:
        """The mailbox owner proved the address of an unconfirmed account: it is theirs now.

        Whatever anyone set on the account before (a password, sessions, API keys, email
        tokens, a pending address change) came from someone who never proved the mailbox,
        so all of it is revoked; the caller then sets the claimant's own credentials.
        """
        counts = revoke_credentials(s, user.id, utcnow())
        user.password_hash = None
        user.pending_email = None
        log.info("account_claimed", user_id=user.id, via=via, **counts)

    def confirm_email(self, token: str) -> User:
        """Confirms a sign-up address (claiming the account), or completes an email change."""
        try:
            with self.db.session() as s:
                row = use_token(s, token, (CONFIRM, CHANGE_EMAIL))
                user = s.get(User, row.user_id, with_for_update=True)
                if user is None or user.disabled_at is not None:
                    raise invalid_token()
                if row.purpose == CONFIRM:
                    if row.email != user.email:
                        raise invalid_token()
                    if user.email_confirmed_at is None:
                        self.claim(s, user, via="confirmation")
                        user.password_hash = row.password_hash
                        user.name = row.name or user.name
                    row.password_hash = row.name = None  # spent: the account holds them now
                else:
                    # Only a confirmed account can have asked for a change; a change token
                    # of an unconfirmed one (from before this rule) is worthless.
                    if user.email_confirmed_at is None or row.email != user.pending_email:
                        raise invalid_token()
                    user.email = row.email
                    user.pending_email = None
                    if user.email_confirmed_at is not None:
                        user.email_confirmed_at = utcnow()
                self.mark_confirmed(s, user)
                s.flush()
                s.expunge(user)
        except IntegrityError as exc:
            raise AlreadyExists(
                "another account uses this address now", code="email_taken"
            ) from exc
        log.info("email_confirmed", user_id=user.id)
        return user

    def request_password_reset(self, email: str) -> None:
        """Same answer whether or not the address has an account."""
        try:
            email = normalize_email(email)
        except InvalidArgument:
            return
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.email == email))
            if user is None or user.disabled_at is not None:
                return
            token = new_token(s, user.id, RESET, email, self.config.reset_ttl)
            user_id = user.id
        log.info("password_reset_requested", user_id=user_id)
        self.notify.reset_password(email, token, self._hours(self.config.reset_ttl))

    def reset_password(self, token: str, new_password: str, revoke_api_keys: bool = False) -> int:
        """Sets the password and ends every session; with `revoke_api_keys`, every API key
        goes too (whoever knew the old password may have made one). Returns keys revoked."""
        check_password(new_password)
        password_hash = credentials.hash_password(new_password)
        with self.db.session() as s:
            row = use_token(s, token, (RESET,))
            user = s.get(User, row.user_id, with_for_update=True)
            if user is None or user.disabled_at is not None or row.email != user.email:
                raise invalid_token()
            if user.email_confirmed_at is None:
                self.claim(s, user, via="password_reset")
            user.password_hash = password_hash
            # Every other outstanding reset token dies with this one.
            s.execute(
                update(EmailToken)
                .where(
                    EmailToken.user_id == user.id,
                    EmailToken.purpose == RESET,
                    EmailToken.used_at.is_(None),
                )
                .values(used_at=utcnow())
            )
            ended = end_sessions(s, user.id)
            keys = revoke_user_keys(s, user.id) if revoke_api_keys else 0
            self.mark_confirmed(s, user)  # the mailbox owner proved it
            self.throttle.succeeded(s, self.throttle.keys(user.email, ""))
            email, user_id = user.email, user.id
        log.info("password_reset", user_id=user_id, sessions_ended=ended, api_keys_revoked=keys)
        self.notify.password_changed(email)
        return keys

    def verify_password(self, user_id: str, password: str, address: str = "") -> None:
        """Checks a signed-in user's password again before a grave step; counted and locked
        like a sign-in, so an API key holder cannot guess it faster than anyone else.

        An account without a password cannot answer: it must sign in afresh instead.
        """
        with self.db.session(readonly=True) as s:
            user = s.get(User, user_id)
            if not usable(user) or user is None:
                raise NotFound("user not found")
            if user.password_hash is None:
                raise FailedPrecondition(
                    "this account has no password: sign in again to confirm it is you",
                    code="reauthentication_required",
                )
            email, stored = user.email, user.password_hash
        keys = self.throttle.keys(email, address)
        with self.db.session() as s:
            wait = self.throttle.attempt(s, keys, utcnow())
        if wait:
            raise LoginThrottled(wait)
        if not credentials.verify_password(stored, password):
            log.info("password_check_failed", user_id=user_id)
            raise Unauthenticated("the password is wrong", code="invalid_credentials")
        with self.db.session() as s:
            self.throttle.succeeded(s, keys)

    def get_user(self, user_id: str) -> User:
        with self.db.session(readonly=True) as s:
            user = s.get(User, user_id)
            if user is None or user.disabled_at is not None:
                raise NotFound("user not found")
            s.expunge(user)
            return user

    def update_account(
        self,
        user_id: str,
        name: str | None = None,
        email: str | None = None,
        current_password: str = "",
        vision_provider: str | None = None,
        language: str | None = None,
    ) -> User:
        """Renames and sets AI metadata preferences at once; a new email waits for confirmation."""
        new_name = check_name(name) if name is not None else None
        new_email = normalize_email(email) if email is not None else None
        provider = check_vision_provider(vision_provider) if vision_provider is not None else None
        new_language = check_language(language) if language is not None else None
        token = ""
        with self.db.session() as s:
            user = s.get(User, user_id)
            if user is None or user.disabled_at is not None:
                raise NotFound("user not found")
            if new_email is not None and new_email != user.email:
                if user.email_confirmed_at is None:
                    raise unconfirmed()
                if not credentials.verify_password(user.password_hash, current_password):
                    raise Unauthenticated(
                        "the current password is required to change the email",
                        code="invalid_credentials",
                    )
                user.pending_email = new_email
                token = new_token(s, user.id, CHANGE_EMAIL, new_email, self.config.confirm_ttl)
                old_email = user.email
            if new_name is not None:
                user.name = new_name
            if provider is not None:
                user.vision_provider = provider
            if new_language is not None:
                user.language = new_language
            s.flush()
            s.expunge(user)
        if token and new_email is not None:
            log.info("email_change_requested", user_id=user_id)
            self.notify.change_email(new_email, token, self._hours(self.config.confirm_ttl))
            self.notify.email_change_requested(old_email)
        return user

    def change_password(
        self, user_id: str, current_password: str, new_password: str
    ) -> tuple[str, datetime]:
        """Ends every session (this one too) and returns the caller's fresh session."""
        check_password(new_password)
        new_hash = credentials.hash_password(new_password)
        with self.db.session() as s:
            user = s.get(User, user_id)
            if user is None or user.disabled_at is not None:
                raise NotFound("user not found")
            if not credentials.verify_password(user.password_hash, current_password):
                raise Unauthenticated("the current password is wrong", code="invalid_credentials")
            user.password_hash = new_hash
            ended = end_sessions(s, user.id)
            token, expires = open_session(s, user.id, self.config.session_ttl)
            email = user.email
        log.info("password_changed", user_id=user_id, sessions_ended=ended)
        self.notify.password_changed(email)
        return token, expires
