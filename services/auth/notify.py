"""The emails auth sends, through the shared mailer.

Sending happens on a background thread by default, so a request costs the
same whether or not a message goes out (no user enumeration by timing) and
a slow SMTP server never holds a gRPC call. Failures are logged (without the
address) and the user can ask again (sign up again, or request a new reset).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from picopt.kernel.logs import get_logger
from picopt.kernel.mailer import Mailer

log = get_logger(__name__)


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str
    kind: str


class Notifier:
    def __init__(self, mailer: Mailer, public_url: str, background: bool = True) -> None:
        self.mailer = mailer
        self.public_url = public_url.rstrip("/")
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="auth-mail") if background else None

    def _send(self, message: Message) -> None:
        if self._pool is None:
            self._deliver(message)
        else:
            self._pool.submit(self._deliver, message)

    def _deliver(self, message: Message) -> None:
        try:
            self.mailer.send(message.to, message.subject, message.text, kind=message.kind)
        except Exception as exc:
            log.error("mail_failed", kind=message.kind, error=type(exc).__name__)

    def _token_text(self, intro: str, token: str, path: str, extra: str, hours: int) -> str:
        return (
            f"{intro}\n\n"
            f"Token: {token}\n\n"
            "Send it to the API:\n"
            f"  curl -X POST {self.public_url}{path} -H 'content-type: application/json' \\\n"
            f'    -d \'{{"token": "{token}"{extra}}}\'\n\n'
            f"The token works once and expires in {hours} hours.\n"
        )

    def confirm_email(self, to: str, token: str, hours: int) -> None:
        text = self._token_text(
            "Please confirm your email address for Picture Optimizer.",
            token,
            "/v1/auth/confirm",
            "",
            hours,
        )
        text += "If you did not sign up, ignore this message.\n"
        self._send(Message(to, "Confirm your email address", text, "confirm_email"))

    def change_email(self, to: str, token: str, hours: int) -> None:
        text = self._token_text(
            "Please confirm that this address should become your Picture Optimizer login.",
            token,
            "/v1/auth/confirm",
            "",
            hours,
        )
        self._send(Message(to, "Confirm your new email address", text, "change_email"))

    def email_change_requested(self, to: str) -> None:
        text = (
            "Someone signed in to your Picture Optimizer account asked to move it to another "
            "email address. Nothing changes until the new address is confirmed. If this was "
            "not you, change your password now.\n"
        )
        self._send(Message(to, "Email change requested", text, "email_change_notice"))

    def already_registered(self, to: str) -> None:
        text = (
            "Someone (hopefully you) tried to sign up for Picture Optimizer with this address, "
            "which already has an account. Sign in, or reset your password at "
            f"{self.public_url}/v1/auth/password-reset. If it was not you, ignore this message.\n"
        )
        self._send(Message(to, "You already have an account", text, "already_registered"))

    def reset_password(self, to: str, token: str, hours: int) -> None:
        text = self._token_text(
            "Someone (hopefully you) asked to reset your Picture Optimizer password.",
            token,
            "/v1/auth/password-reset/confirm",
            ', "password": "your new password"',
            hours,
        )
        text += "If it was not you, ignore this message; your password stays the same.\n"
        self._send(Message(to, "Reset your password", text, "reset_password"))

    def password_changed(self, to: str) -> None:
        text = (
            "Your Picture Optimizer password was changed and every other session was signed "
            "out. If this was not you, reset your password now.\n"
        )
        self._send(Message(to, "Your password was changed", text, "password_changed"))

    def drain(self) -> None:
        """Wait for queued messages (tests, shutdown)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="auth-mail")
