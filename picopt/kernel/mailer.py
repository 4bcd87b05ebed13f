"""The one mailer every service uses: `.eml` files for one-machine runs, SMTP otherwise.

MAIL_TRANSPORT=file (default) writes each message to MAIL_DIR; MAIL_TRANSPORT=smtp
sends through SMTP_HOST:SMTP_PORT with STARTTLS (on by default; the server's
certificate is verified against the system CAs or SMTP_CA_FILE) and optional
credentials. The recipient's address is never logged; a failed delivery raises
`MailError` so callers can retry or report it.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from picopt.kernel.errors import Unavailable
from picopt.kernel.logs import get_logger
from picopt.kernel.settings import Settings, SettingsError

log = get_logger(__name__)


class MailError(Unavailable):
    """The mail server refused the message or could not be reached."""

    code = "mail_unavailable"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    starttls: bool
    username: str
    password: str
    timeout_s: float
    ca_file: str = ""  # PEM bundle to trust instead of the system CAs (a private relay)


class Mailer:
    def __init__(
        self, sender: str, mail_dir: Path | None = None, smtp: SmtpConfig | None = None
    ) -> None:
        if (mail_dir is None) == (smtp is None):
            raise ValueError("configure exactly one transport: a mail directory or SMTP")
        self.sender = sender
        self.mail_dir = mail_dir
        self.smtp = smtp

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        env = settings.env
        sender = env.str("MAIL_FROM", "Picture Optimizer <no-reply@localhost>")
        transport = env.str("MAIL_TRANSPORT", "file")
        if transport == "file":
            return cls(sender, mail_dir=settings.mail_dir)
        if transport == "smtp":
            host = env.str("SMTP_HOST")
            if not host:
                raise SettingsError("MAIL_TRANSPORT=smtp needs SMTP_HOST")
            return cls(
                sender,
                smtp=SmtpConfig(
                    host=host,
                    port=env.int("SMTP_PORT", 587),
                    starttls=env.bool("SMTP_STARTTLS", True),
                    username=env.str("SMTP_USERNAME"),
                    password=env.str("SMTP_PASSWORD"),
                    timeout_s=env.float("SMTP_TIMEOUT_S", 10.0),
                    ca_file=env.str("SMTP_CA_FILE"),
                ),
            )
        raise SettingsError(f"MAIL_TRANSPORT must be file or smtp, got {transport!r}")

    def send(
        self, to: str, subject: str, text: str, html: str | None = None, kind: str = ""
    ) -> str:
        """Send one message; returns its Message-ID. `kind` (e.g. "confirm_email") is logged."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="picopt.local")
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        if self.mail_dir is not None:
            self._write(message)
        else:
            self._deliver(message)
        log.info("mail_sent", kind=kind, transport="file" if self.mail_dir else "smtp")
        return str(message["Message-ID"])

    def _write(self, message: EmailMessage) -> None:
        assert self.mail_dir is not None
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.eml"
        tmp = self.mail_dir / f".{name}.tmp"
        tmp.write_bytes(bytes(message))
        os.replace(tmp, self.mail_dir / name)

    def _deliver(self, message: EmailMessage) -> None:
        cfg = self.smtp
        assert cfg is not None
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as client:
                if cfg.starttls:
                    context = ssl.create_default_context(cafile=cfg.ca_file or None)
                    client.starttls(context=context)
                elif cfg.username:
                    raise MailError("refusing to send SMTP credentials without STARTTLS")
                if cfg.username:
                    client.login(cfg.username, cfg.password)
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("smtp_failed", error=type(exc).__name__)
            detail = f"the mail server did not take the message ({type(exc).__name__})"
            raise MailError(detail) from exc
