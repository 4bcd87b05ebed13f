"""What auth's unit tests share: a service on a real database with the file mail transport."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import text

from picopt.demo import mail_text
from picopt.kernel.db import Database
from picopt.kernel.mailer import Mailer
from picopt.kernel.messaging import Outbox
from services.auth.__main__ import MIGRATIONS
from services.auth.models import User
from services.auth.notify import Notifier
from services.auth.service import AuthConfig, AuthService
from services.auth.throttle import ThrottleConfig

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "a long enough passphrase"
SECRET = b"s" * 32


class Env:
    def __init__(self, tmp: Path, url: str = "", schema: str = "auth") -> None:
        self.mail_dir = tmp / "mail"
        self.db = Database(url or f"sqlite:///{tmp / 'auth.db'}", schema)
        self.db.migrate(MIGRATIONS)
        self.config = AuthConfig(
            secret=SECRET,
            session_ttl=timedelta(hours=2),
            session_idle_ttl=timedelta(minutes=30),
            throttle=ThrottleConfig(
                account_free_failures=3, address_free_failures=6, base_delay_s=60, max_delay_s=600
            ),
        )
        notifier = Notifier(Mailer("t@localhost", mail_dir=self.mail_dir), "http://x", False)
        self.service = AuthService(self.db, Outbox("auth"), self.config, notifier)

    def mails(self, to: str) -> list[str]:
        found = []
        for path in sorted(self.mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
            msg = message_from_bytes(path.read_bytes())
            if msg["To"] == to:
                found.append(mail_text(msg))
        return found

    def token(self, to: str) -> str:
        match = re.search(r"^Token: (\S+)$", self.mails(to)[-1], re.M)
        assert match
        return match.group(1)

    def events(self, event_type: str) -> list[bytes]:
        with self.db.session() as s:
            rows = s.execute(
                text("SELECT envelope FROM outbox WHERE event_type = :t"), {"t": event_type}
            )
            return [bytes(r[0]) for r in rows]

    def signed_up(self, email: str = "ada@example.test") -> User:
        self.service.accounts.sign_up("Ada", email, PASSWORD)
        return self.service.accounts.confirm_email(self.token(email))


@contextmanager
def postgres_env(tmp: Path) -> Iterator[Env]:
    """An Env on the loopback PostgreSQL, in a schema of its own dropped afterwards."""
    schema = f"auth_t_{uuid.uuid4().hex[:10]}"
    env = Env(tmp, PG_URL, schema)
    try:
        yield env
    finally:
        env.db.dispose()
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
