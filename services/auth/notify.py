"""The emails auth sends, through the shared mailer.

Sending happens on a background thread by default, so a request costs the
same whether or not a message goes out (no user enumeration by timing) and
a slow SMTP server never holds a gRPC call. Failures are logged (without the
address) and the user can ask again (sign up again, or request a new reset).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape

from picopt.kernel.logs import get_logger
from picopt.kernel.mailer import Mailer

log = get_logger(__name__)


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str
    kind: str
    html: str | None = None


@dataclass(frozen=True)
class TokenMail:
    """What a mail carrying a single-use token says, and where its link leads."""

    intro: str
    action: str  # the link's words
    page: str  # web app page that reads the token from the fragment
    endpoint: str  # API route that takes the token
    extra: str = ""  # more JSON fields for the curl example
    outro: str = ""


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
            self.mailer.send(
                message.to, message.subject, message.text, html=message.html, kind=message.kind
            )
        except Exception as exc:
            log.error("mail_failed", kind=message.kind, error=type(exc).__name__)

    def _token_mail(
        self, to: str, subject: str, kind: str, mail: TokenMail, token: str, hours: int
    ) -> Message:
        """Plain text and HTML: a link to the web app page, then the token for API users.

        The token travels in the link's fragment (#token=...), which browsers never
        send to a server, so it cannot end up in an access log on the way.
        """
        link = f"{self.public_url}{mail.page}#token={token}"
        text = (
            f"{mail.intro}\n\n"
            f"{mail.action}:\n  {link}\n\n"
            f"Or send the token to the API:\n"
            f"Token: {token}\n"
            f"  curl -X POST {self.public_url}{mail.endpoint} \\\n"
            "    -H 'content-type: application/json' \\\n"
            f'    -d \'{{"token": "{token}"{mail.extra}}}\'\n\n'
            f"The token works once and expires in {hours} hours.\n"
            f"{mail.outro}"
        )
        html = (
            f"<p>{escape(mail.intro)}</p>\n"
            f'<p><a href="{escape(link)}">{escape(mail.action)}</a></p>\n'
            f"<p>Or send this token to <code>POST {escape(mail.endpoint)}</code>: "
            f"<code>{escape(token)}</code></p>\n"
            f"<p>The token works once and expires in {hours} hours.</p>\n"
            + (f"<p>{escape(mail.outro.strip())}</p>\n" if mail.outro else "")
        )
        return Message(to, subject, text, kind, html)

    def confirm_email(self, to: str, token: str, hours: int) -> None:
        mail = TokenMail(
            intro="Please confirm your email address for Picture Optimizer.",
            action="Confirm your email address",
            page="/app/confirm",
            endpoint="/v1/auth/confirm",
            outro="If you did not sign up, ignore this message.\n",
        )
        self._send(
            self._token_mail(to, "Confirm your email address", "confirm_email", mail, token, hours)
        )

    def change_email(self, to: str, token: str, hours: int) -> None:
        mail = TokenMail(
            intro="Please confirm that this address should become your Picture Optimizer login.",
            action="Confirm your new email address",
            page="/app/confirm",
            endpoint="/v1/auth/confirm",
        )
        self._send(
            self._token_mail(
                to, "Confirm your new email address", "change_email", mail, token, hours
            )
        )

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
            f"{self.public_url}/app/reset. If it was not you, ignore this message.\n"
        )
        self._send(Message(to, "You already have an account", text, "already_registered"))

    def reset_password(self, to: str, token: str, hours: int) -> None:
        mail = TokenMail(
            intro="Someone (hopefully you) asked to reset your Picture Optimizer password.",
            action="Choose a new password",
            page="/app/reset",
            endpoint="/v1/auth/password-reset/confirm",
            extra=', "password": "your new password"',
            outro="If it was not you, ignore this message; your password stays the same.\n",
        )
        self._send(
            self._token_mail(to, "Reset your password", "reset_password", mail, token, hours)
        )

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
