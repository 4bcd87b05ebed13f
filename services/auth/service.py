"""Auth's use cases wired together, one object per concern.

- `accounts` (accounts.py): sign-up, confirmation and the claim of an address, password
  reset and change, the profile;
- `sessions` (sessions.py): sign-in, session tokens, sign-out;
- `api_keys` (api_keys.py): creating, listing, revoking and authenticating keys;
- `identities` (identities.py): provider sign-in and connected sign-in methods;
- `erasure` (erasure.py): disabling and erasing an account;
- `call_log` (call_log.py): the API call log and the log purge.

For the privacy participant: `AuthService.disable_user(session, user_id)` disables an
account and revokes every session, API key and pending token;
`AuthService.erase_user(session, user_id)` deletes the user and everything auth holds
about them. Both run inside the caller's transaction and return per-table counts.
"""

from __future__ import annotations

from sqlalchemy.orm import Session as DbSession

from picopt.kernel.db import Database
from picopt.kernel.messaging import Outbox
from services.auth.accounts import Accounts
from services.auth.api_keys import ApiKeys
from services.auth.call_log import CallLog
from services.auth.erasure import Erasure
from services.auth.identities import ExternalIdentities
from services.auth.notify import Notifier
from services.auth.rules import AuthConfig, normalize_email
from services.auth.sessions import Sessions
from services.auth.throttle import LoginThrottle

__all__ = ["AuthConfig", "AuthService", "normalize_email"]


class AuthService:
    def __init__(
        self, db: Database, outbox: Outbox, config: AuthConfig, notifier: Notifier
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.config = config
        self.notify = notifier
        self.throttle = LoginThrottle(config.secret, config.throttle)
        self.accounts = Accounts(db, outbox, config, notifier, self.throttle)
        self.sessions = Sessions(db, config, self.throttle)
        self.api_keys = ApiKeys(db, config)
        self.identities = ExternalIdentities(db, outbox, config, self.accounts)
        self.erasure = Erasure(self.throttle)
        self.call_log = CallLog(db, self.throttle)

    def disable_user(self, s: DbSession, user_id: str) -> dict[str, int]:
        """Disable the account and revoke every session, API key and pending token."""
        return self.erasure.disable_user(s, user_id)

    def erase_user(self, s: DbSession, user_id: str) -> dict[str, int]:
        """Delete the user and every row auth holds about them (call log included)."""
        return self.erasure.erase_user(s, user_id)
