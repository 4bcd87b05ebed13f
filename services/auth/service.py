"""Auth use cases: accounts, email tokens, sessions, API keys, the API call log.

An account is usable only once its address is confirmed: before that it holds no
password, cannot sign in, make API keys or change its address. Whoever first
proves the mailbox (a confirm or reset token, or a provider vouching for the
address) claims it, and every credential anyone set before is revoked
(`AuthService._claim`).

For the privacy engineer: `AuthService.disable_user(session, user_id)` disables an
account and revokes every session, API key and pending token;
`AuthService.erase_user(session, user_id)` deletes the user and everything auth
holds about them. Both run inside the caller's transaction (an event handler's
session) and return per-table counts for the audit trail.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database, as_utc, utcnow
from picopt.kernel.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
)
from picopt.kernel.logs import get_logger
from picopt.kernel.messaging import Outbox
from services.auth import credentials
from services.auth.models import (
    ApiCallRecord,
    ApiKey,
    EmailToken,
    LoginFailure,
    OAuthIdentity,
    Session,
    User,
)
from services.auth.notify import Notifier
from services.auth.passwords import check_password
from services.auth.preferences import check_language, check_vision_provider
from services.auth.rows import rowcount
from services.auth.throttle import LoginThrottle, ThrottleConfig

log = get_logger(__name__)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CONFIRM, RESET, CHANGE_EMAIL = "confirm", "reset", "change_email"
# last_seen_at is written at most this often (a write per request would be wasteful).
_SEEN_GRANULARITY = timedelta(seconds=60)


@dataclass(frozen=True)
class AuthConfig:
    secret: bytes
    # AUTH_SECRETS_OLD, newest first: API keys hashed under them still verify (and are
    # hashed again under `secret` when used); trial digests under them are still matched.
    old_secrets: tuple[bytes, ...] = ()
    session_ttl: timedelta = timedelta(days=14)
    session_idle_ttl: timedelta = timedelta(days=3)
    confirm_ttl: timedelta = timedelta(hours=24)
    reset_ttl: timedelta = timedelta(hours=1)
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)


class LoginThrottled(ResourceExhausted):
    code = "login_throttled"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str
    expires: datetime


@dataclass(frozen=True)
class SignInMethods:
    """How an account can sign in: linked provider identities, and a password or not."""

    identities: list[OAuthIdentity]
    has_password: bool


@dataclass(frozen=True)
class ApiCall:
    user_id: str
    method: str
    route: str
    status: int
    duration_ms: int
    at: datetime
    key_id: str = ""


# Providers where dots in the local part do not matter (Gmail ignores them).
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def trial_address(email: str) -> str:
    """The mailbox behind an address, for the one-trial-per-mailbox rule only:
    `ada+promo@x` and `ada@x` are one mailbox, and at Gmail so is `a.d.a@gmail.com`.
    Sign-in and mail keep the address exactly as given."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS_DOMAINS:
        domain = _DOTLESS_DOMAINS[domain]
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidArgument("email is not a valid address", code="invalid_email")
    return email


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidArgument("name must be 1 to 200 characters", code="invalid_name")
    return name


def _invalid_token() -> InvalidArgument:
    return InvalidArgument("the token is invalid, used or expired", code="invalid_token")


def _unconfirmed() -> FailedPrecondition:
    return FailedPrecondition(
        "confirm your email address first: follow the link in the mail we sent",
        code="email_unconfirmed",
    )


def _usable(user: User | None) -> bool:
    """An account that may act: it exists, is not disabled and its address is confirmed."""
    return user is not None and user.disabled_at is None and user.email_confirmed_at is not None


class AuthService:
    def __init__(
        self, db: Database, outbox: Outbox, config: AuthConfig, notifier: Notifier
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.config = config
        self.notify = notifier
        self.throttle = LoginThrottle(config.secret, config.throttle)

    def email_digest(self, email: str, secret: bytes | None = None) -> str:
        """HMAC-SHA256 of the address as the trial sees it (`trial_address`): lets billing
        grant one trial per mailbox without seeing any address."""
        key = self.config.secret if secret is None else secret
        return hmac.new(key, trial_address(email).encode(), hashlib.sha256).hexdigest()

    def older_email_digests(self, email: str) -> list[str]:
        """The same digest under each old secret, so claims made before a rotation count."""
        return [self.email_digest(email, old) for old in self.config.old_secrets]

    # -- sign-up and email tokens ---------------------------------------------------------

    def sign_up(self, name: str, email: str, password: str) -> None:
        """Same answer whether or not the address is taken; the next step arrives by email."""
        name = _check_name(name)
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
                token = self._new_token(
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
                token = self._new_token(
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

    def _new_token(
        self,
        s: DbSession,
        user_id: str,
        purpose: str,
        email: str,
        ttl: timedelta,
        name: str | None = None,
        password_hash: str | None = None,
    ) -> str:
        token = credentials.new_session_token()
        created = utcnow()
        s.add(
            EmailToken(
                token_hash=credentials.token_digest(token),
                user_id=user_id,
                purpose=purpose,
                email=email,
                created_at=created,
                expires_at=created + ttl,
                name=name,
                password_hash=password_hash,
            )
        )
        return token

    def _use_token(self, s: DbSession, token: str, purposes: Iterable[str]) -> EmailToken:
        row = (
            s.get(EmailToken, credentials.token_digest(token), with_for_update=True)
            if token
            else None
        )
        if (
            row is None
            or row.purpose not in set(purposes)
            or row.used_at is not None
            or as_utc(row.expires_at) <= utcnow()
        ):
            raise _invalid_token()
        row.used_at = utcnow()
        return row

    def _mark_confirmed(self, s: DbSession, user: User) -> None:
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

    def _claim(self, s: DbSession, user: User, via: str) -> None:
        """The mailbox owner proved the address of an unconfirmed account: it is theirs now.

        Whatever anyone set on the account before (a password, sessions, API keys, email
        tokens, a pending address change) came from someone who never proved the mailbox,
        so all of it is revoked; the caller then sets the claimant's own credentials.
        """
        counts = self._revoke_credentials(s, user.id, utcnow())
        user.password_hash = None
        user.pending_email = None
        log.info("account_claimed", user_id=user.id, via=via, **counts)

    def _revoke_credentials(self, s: DbSession, user_id: str, at: datetime) -> dict[str, int]:
        """End every session and revoke every API key and unused email token of the user."""
        keys = self._revoke_api_keys(s, user_id)
        tokens = s.execute(
            update(EmailToken)
            .where(EmailToken.user_id == user_id, EmailToken.used_at.is_(None))
            .values(used_at=at, name=None, password_hash=None)
        )
        return {
            "sessions": self._end_sessions(s, user_id),
            "api_keys": keys,
            "email_tokens": rowcount(tokens),
        }

    def confirm_email(self, token: str) -> User:
        """Confirms a sign-up address (claiming the account), or completes an email change."""
        try:
            with self.db.session() as s:
                row = self._use_token(s, token, (CONFIRM, CHANGE_EMAIL))
                user = s.get(User, row.user_id, with_for_update=True)
                if user is None or user.disabled_at is not None:
                    raise _invalid_token()
                if row.purpose == CONFIRM:
                    if row.email != user.email:
                        raise _invalid_token()
                    if user.email_confirmed_at is None:
                        self._claim(s, user, via="confirmation")
                        user.password_hash = row.password_hash
                        user.name = row.name or user.name
                    row.password_hash = row.name = None  # spent: the account holds them now
                else:
                    # Only a confirmed account can have asked for a change; a change token
                    # of an unconfirmed one (from before this rule) is worthless.
                    if user.email_confirmed_at is None or row.email != user.pending_email:
                        raise _invalid_token()
                    user.email = row.email
                    user.pending_email = None
                    if user.email_confirmed_at is not None:
                        user.email_confirmed_at = utcnow()
                self._mark_confirmed(s, user)
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
            token = self._new_token(s, user.id, RESET, email, self.config.reset_ttl)
            user_id = user.id
        log.info("password_reset_requested", user_id=user_id)
        self.notify.reset_password(email, token, self._hours(self.config.reset_ttl))

    def reset_password(self, token: str, new_password: str, revoke_api_keys: bool = False) -> int:
        """Sets the password and ends every session; with `revoke_api_keys`, every API key
        goes too (whoever knew the old password may have made one). Returns keys revoked."""
        check_password(new_password)
        password_hash = credentials.hash_password(new_password)
        with self.db.session() as s:
            row = self._use_token(s, token, (RESET,))
            user = s.get(User, row.user_id, with_for_update=True)
            if user is None or user.disabled_at is not None or row.email != user.email:
                raise _invalid_token()
            if user.email_confirmed_at is None:
                self._claim(s, user, via="password_reset")
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
            ended = self._end_sessions(s, user.id)
            keys = self._revoke_api_keys(s, user.id) if revoke_api_keys else 0
            self._mark_confirmed(s, user)  # the mailbox owner proved it
            self.throttle.succeeded(s, self.throttle.keys(user.email, ""))
            email, user_id = user.email, user.id
        log.info("password_reset", user_id=user_id, sessions_ended=ended, api_keys_revoked=keys)
        self.notify.password_changed(email)
        return keys

    def _revoke_api_keys(self, s: DbSession, user_id: str) -> int:
        result = s.execute(
            update(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return rowcount(result)

    # -- sessions --------------------------------------------------------------------------

    def log_in(
        self, email: str, password: str, address: str = "", previous_token: str = ""
    ) -> SignedIn:
        """Counts the attempt first (LoginThrottle.attempt), then checks the password
        outside any transaction; only a success writes again (a session, counters cleared)."""
        try:
            email = normalize_email(email)
        except InvalidArgument:
            email = ""
        keys = self.throttle.keys(email or "-", address)
        with self.db.session() as s:
            wait = self.throttle.attempt(s, keys, utcnow())
        if wait:
            log.info("login_throttled", retry_after_s=wait)
            raise LoginThrottled(wait)
        with self.db.session(readonly=True) as s:
            found = s.scalar(select(User).where(User.email == email)) if email else None
            stored = self._password_hash(s, found)
        ok = credentials.verify_password(stored, password) and found is not None
        if ok and found is not None and found.disabled_at is None and not found.email_confirmed_at:
            log.info("login_unconfirmed", user_id=found.id)
            raise _unconfirmed()
        user: User | None = None
        if ok and found is not None:
            with self.db.session() as s:
                user = s.get(User, found.id)
                if user is not None and _usable(user) and user.password_hash == stored:
                    if credentials.needs_rehash(stored or ""):
                        user.password_hash = credentials.hash_password(password)
                        log.info("password_rehashed", user_id=user.id)
                    self.throttle.succeeded(s, keys)
                    if previous_token:
                        s.execute(
                            delete(Session).where(
                                Session.token_hash == credentials.token_digest(previous_token)
                            )
                        )
                    token, expires = self._new_session(s, user.id)
                    s.flush()
                    s.expunge(user)
                else:
                    user = None
        if user is None:
            log.info("login_failed", user_id=found.id if found else None)
            raise Unauthenticated("email or password is wrong", code="invalid_credentials")
        log.info("user_logged_in", user_id=user.id)
        return SignedIn(user, token, expires)

    @staticmethod
    def _password_hash(s: DbSession, user: User | None) -> str | None:
        """What a password is checked against: the account's, or for an unconfirmed account
        its newest pending sign-up's (only to say "confirm first" to whoever chose it)."""
        if user is None or user.email_confirmed_at is not None:
            return user.password_hash if user else None
        return s.scalar(
            select(EmailToken.password_hash)
            .where(
                EmailToken.user_id == user.id,
                EmailToken.purpose == CONFIRM,
                EmailToken.used_at.is_(None),
                EmailToken.expires_at > utcnow(),
            )
            .order_by(EmailToken.created_at.desc())
            .limit(1)
        )

    def _new_session(self, s: DbSession, user_id: str) -> tuple[str, datetime]:
        token = credentials.new_session_token()
        created = utcnow()
        expires = created + self.config.session_ttl
        s.add(
            Session(
                token_hash=credentials.token_digest(token),
                user_id=user_id,
                created_at=created,
                expires_at=expires,
                last_seen_at=created,
            )
        )
        return token, expires

    def _end_sessions(self, s: DbSession, user_id: str) -> int:
        result = s.execute(delete(Session).where(Session.user_id == user_id))
        return rowcount(result)

    def log_out(self, token: str) -> None:
        with self.db.session() as s:
            s.execute(delete(Session).where(Session.token_hash == credentials.token_digest(token)))

    def log_out_everywhere(self, user_id: str, revoke_api_keys: bool = False) -> tuple[int, int]:
        """Ends every session of the account and, when asked, revokes every API key too.
        Returns (sessions ended, keys revoked)."""
        with self.db.session() as s:
            ended = self._end_sessions(s, user_id)
            keys = self._revoke_api_keys(s, user_id) if revoke_api_keys else 0
        log.info(
            "logged_out_everywhere", user_id=user_id, sessions_ended=ended, api_keys_revoked=keys
        )
        return ended, keys

    def verify_password(self, user_id: str, password: str, address: str = "") -> None:
        """Checks a signed-in user's password again before a grave step; counted and locked
        like a sign-in, so an API key holder cannot guess it faster than anyone else.

        An account without a password cannot answer: it must sign in afresh instead.
        """
        with self.db.session(readonly=True) as s:
            user = s.get(User, user_id)
            if not _usable(user) or user is None:
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

    def authenticate_session(self, token: str) -> str:
        invalid = Unauthenticated("session is invalid or expired", code="invalid_session")
        at = utcnow()
        with self.db.session() as s:
            session = s.get(Session, credentials.token_digest(token)) if token else None
            if session is None:
                raise invalid
            if (
                as_utc(session.expires_at) <= at
                or as_utc(session.last_seen_at) + self.config.session_idle_ttl <= at
            ):
                s.delete(session)
                expired = True
            else:
                expired = False
                if not _usable(s.get(User, session.user_id)):
                    raise invalid
                if at - as_utc(session.last_seen_at) >= _SEEN_GRANULARITY:
                    session.last_seen_at = at
                user_id = session.user_id
        if expired:
            raise invalid
        return user_id

    # -- API keys --------------------------------------------------------------------------

    def authenticate_api_key(self, key: str) -> tuple[str, str]:
        prefix = credentials.api_key_prefix(key)
        digest = credentials.api_key_digest(self.config.secret, key)
        invalid = Unauthenticated("API key is invalid or revoked", code="invalid_api_key")
        with self.db.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
            stored = row.key_hash if row else "0" * 64
            valid = credentials.digests_equal(stored, digest)
            if not valid and row is not None and self._hashed_under_old_secret(stored, key):
                row.key_hash, valid = digest, True  # moves to the current secret
                log.info("api_key_rehashed", key_id=row.id)
            if not valid or row is None or row.revoked_at is not None:
                raise invalid
            if not _usable(s.get(User, row.user_id)):
                raise invalid
            at = utcnow()
            if row.last_used_at is None or at - as_utc(row.last_used_at) >= _SEEN_GRANULARITY:
                row.last_used_at = at
            return row.user_id, row.id

    def _hashed_under_old_secret(self, stored: str, key: str) -> bool:
        return any(
            credentials.digests_equal(stored, credentials.api_key_digest(old, key))
            for old in self.config.old_secrets
        )

    def create_api_key(self, user_id: str, name: str) -> tuple[ApiKey, str]:
        name = (name or "default").strip()
        if not 1 <= len(name) <= 100:
            raise InvalidArgument("key name must be 1 to 100 characters", code="invalid_name")
        key, prefix = credentials.new_api_key()
        row = ApiKey(
            id=str(uuid.uuid4()),
            user_id=user_id,
            name=name,
            prefix=prefix,
            key_hash=credentials.api_key_digest(self.config.secret, key),
            created_at=utcnow(),
        )
        with self.db.session() as s:
            user = s.get(User, user_id)
            if user is None or user.disabled_at is not None:
                raise NotFound("user not found")
            if user.email_confirmed_at is None:
                raise _unconfirmed()
            s.add(row)
            s.flush()
            s.expunge(row)
        log.info("api_key_created", user_id=user_id, key_id=row.id)
        return row, key

    def list_api_keys(self, user_id: str) -> list[ApiKey]:
        with self.db.session(readonly=True) as s:
            rows = list(
                s.scalars(
                    select(ApiKey)
                    .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
                    .order_by(ApiKey.created_at)
                )
            )
            s.expunge_all()
            return rows

    def revoke_api_key(self, user_id: str, key_id: str) -> None:
        with self.db.session() as s:
            row = s.get(ApiKey, key_id)
            if row is None or row.user_id != user_id or row.revoked_at is not None:
                raise NotFound("API key not found")
            row.revoked_at = utcnow()
        log.info("api_key_revoked", user_id=user_id, key_id=key_id)

    # -- account ---------------------------------------------------------------------------

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
        new_name = _check_name(name) if name is not None else None
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
                    raise _unconfirmed()
                if not credentials.verify_password(user.password_hash, current_password):
                    raise Unauthenticated(
                        "the current password is required to change the email",
                        code="invalid_credentials",
                    )
                user.pending_email = new_email
                token = self._new_token(
                    s, user.id, CHANGE_EMAIL, new_email, self.config.confirm_ttl
                )
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
            ended = self._end_sessions(s, user.id)
            token, expires = self._new_session(s, user.id)
            email = user.email
        log.info("password_changed", user_id=user_id, sessions_ended=ended)
        self.notify.password_changed(email)
        return token, expires

    # -- OAuth sign-in (verified identity from a provider) -------------------------------

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
        attempt = functools.partial(
            self._sign_in_external,
            provider,
            subject,
            email,
            email_verified,
            name,
            trusted_email,
            signed_in_user_id,
        )
        try:
            return attempt()
        except IntegrityError:
            log.info("external_sign_in_raced", provider=provider)
            return attempt()

    def _sign_in_external(
        self,
        provider: str,
        subject: str,
        email: str,
        email_verified: bool,
        name: str,
        trusted_email: bool,
        signed_in_user_id: str,
    ) -> tuple[SignedIn, bool]:
        """One attempt of `sign_in_external`.

        Linking to an existing account that never confirmed its address claims it
        (`_claim`): whoever created it did not prove the mailbox, the provider did, so
        every credential set before (password, sessions, API keys, email tokens, a
        pending address change) is revoked and the provider's name replaces theirs.
        """
        created = False
        with self.db.session() as s:
            identity = s.scalar(
                select(OAuthIdentity).where(
                    OAuthIdentity.provider == provider, OAuthIdentity.subject == subject
                )
            )
            user = s.get(User, identity.user_id) if identity else None
            if user is None and not trusted_email:
                user = self._signed_in_account(s, signed_in_user_id)
                self._link(s, user, provider, subject)
            elif user is None:
                if not email_verified or not email:
                    raise Unauthenticated(
                        "the provider did not vouch for an email address",
                        code="oauth_email_unverified",
                    )
                address = normalize_email(email)
                user = s.scalar(select(User).where(User.email == address).with_for_update())
                if user is None:
                    user = User(
                        id=str(uuid.uuid4()),
                        name=(name.strip() or address.split("@")[0])[:200],
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
                    self._claim(s, user, via=f"provider:{provider}")
                    user.name = (name.strip() or user.name)[:200]
                self._link(s, user, provider, subject)
                self._mark_confirmed(s, user)
            if user.disabled_at is not None:
                raise Unauthenticated("this account is disabled", code="account_disabled")
            token, expires = self._new_session(s, user.id)
            s.flush()
            s.expunge(user)
        log.info("user_logged_in", user_id=user.id, provider=provider, created=created)
        return SignedIn(user, token, expires), created

    @staticmethod
    def _signed_in_account(s: DbSession, user_id: str) -> User:
        """The account a browser is signed in to, for connecting a provider not trusted
        for email; without one the sign-in is refused."""
        user = s.get(User, user_id, with_for_update=True) if user_id else None
        if user is None or not _usable(user):
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

    # -- disabling and erasure (called by the privacy module) ----------------------------

    def disable_user(self, s: DbSession, user_id: str) -> dict[str, int]:
        """Disable the account and revoke every session, API key and pending token."""
        user = s.get(User, user_id)
        if user is None:
            return {}
        at = utcnow()
        user.disabled_at = user.disabled_at or at
        counts = self._revoke_credentials(s, user_id, at)
        log.info("user_disabled", user_id=user_id, **counts)
        return counts

    def erase_user(self, s: DbSession, user_id: str) -> dict[str, int]:
        """Delete the user and every row auth holds about them (call log included)."""
        user = s.get(User, user_id)
        counts: dict[str, int] = {}
        for model in (Session, ApiKey, EmailToken, OAuthIdentity, ApiCallRecord):
            result = s.execute(delete(model).where(model.user_id == user_id))  # type: ignore[attr-defined]
            counts[model.__tablename__] = rowcount(result)
        if user is not None:
            failures = s.execute(
                delete(LoginFailure).where(
                    LoginFailure.key == self.throttle.account_key(user.email)
                )
            )
            counts["login_failures"] = rowcount(failures)
            s.delete(user)
        counts["users"] = 1 if user is not None else 0
        log.info("user_erased", user_id=user_id, **counts)
        return counts

    # -- API call log ----------------------------------------------------------------------

    def record_api_calls(self, calls: Iterable[ApiCall]) -> int:
        rows = [
            ApiCallRecord(
                user_id=c.user_id,
                key_id=c.key_id or None,
                method=c.method[:10],
                route=c.route[:200],
                status=c.status,
                duration_ms=max(0, c.duration_ms),
                at=c.at,
            )
            for c in calls
            if c.user_id
        ]
        if rows:
            with self.db.session() as s:
                s.add_all(rows)
        return len(rows)

    def list_api_calls(self, user_id: str, limit: int) -> list[ApiCallRecord]:
        with self.db.session(readonly=True) as s:
            rows = list(
                s.scalars(
                    select(ApiCallRecord)
                    .where(ApiCallRecord.user_id == user_id)
                    .order_by(ApiCallRecord.at.desc(), ApiCallRecord.id.desc())
                    .limit(max(1, min(limit, 500)))
                )
            )
            s.expunge_all()
            return rows

    def purge_logs(self, s: DbSession, older_than: datetime) -> dict[str, int]:
        """The `logs.purge` handler's work: call log and login-failure rows before the cutoff."""
        calls = s.execute(delete(ApiCallRecord).where(ApiCallRecord.at < older_than))
        counts = {
            "api_calls": rowcount(calls),
            "login_failures": self.throttle.purge(s, older_than),
        }
        log.info("logs_purged", **counts)
        return counts
