"""The one mailer every service uses: `.eml` files for one-machine runs, SMTP otherwise.

MAIL_TRANSPORT=file (default) writes each message to MAIL_DIR; MAIL_TRANSPORT=smtp
sends through SMTP_HOST:SMTP_PORT with STARTTLS (on by default; the server's
certificate is verified against the system CAs or SMTP_CA_FILE) and optional
credentials. The recipient's address is never logged; a failed delivery raises
`MailError` so callers can retry or report it.

Mail files hold addresses and names, so they do not outlive their use: a file
older than MAIL_FILE_TTL_S (a day by default, at most 30 days) is deleted by
`prune` (run by each writer now and then, and by retention's timer), and
`forget` deletes every file addressed to a person whose account is erased.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path

from picopt.kernel.errors import Unavailable
from picopt.kernel.logs import get_logger
from picopt.kernel.settings import Settings, SettingsError

log = get_logger(__name__)


DEFAULT_FILE_TTL_S = 86_400
MAX_FILE_TTL_S = 30 * 86_400
# A writer prunes the mail directory at most this often.
PRUNE_EVERY_S = 60.0


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


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


class Mailer:
    def __init__(
        self,
        sender: str,
        mail_dir: Path | None = None,
        smtp: SmtpConfig | None = None,
        file_ttl_s: float = DEFAULT_FILE_TTL_S,
    ) -> None:
        if (mail_dir is None) == (smtp is None):
            raise ValueError("configure exactly one transport: a mail directory or SMTP")
        self.sender = sender
        self.mail_dir = mail_dir
        self.smtp = smtp
        self.file_ttl_s = file_ttl_s
        self._pruned_at = 0.0
        self._prune_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        env = settings.env
        sender = env.str("MAIL_FROM", "Picture Optimizer <no-reply@localhost>")
        transport = env.str("MAIL_TRANSPORT", "file")
        if transport == "file":
            ttl = env.int("MAIL_FILE_TTL_S", DEFAULT_FILE_TTL_S)
            if not 0 < ttl <= MAX_FILE_TTL_S:
                raise SettingsError(
                    f"MAIL_FILE_TTL_S must be 1 to {MAX_FILE_TTL_S} seconds (30 days), got {ttl}"
                )
            return cls(sender, mail_dir=settings.mail_dir, file_ttl_s=ttl)
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
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        kind: str = "",
        attachments: Sequence[Attachment] = (),
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
        for a in attachments:
            maintype, _, subtype = a.content_type.partition("/")
            message.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
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
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self.prune()

    def _files(self) -> list[Path]:
        if self.mail_dir is None or not self.mail_dir.is_dir():
            return []
        return [p for p in self.mail_dir.iterdir() if p.suffix in (".eml", ".tmp")]

    def prune(self) -> int:
        """Delete mail files older than MAIL_FILE_TTL_S (and stale partial writes)."""
        with self._prune_lock:
            self._pruned_at = time.monotonic()
            oldest_allowed = time.time() - self.file_ttl_s
            deleted = 0
            for path in self._files():
                try:
                    if path.stat().st_mtime <= oldest_allowed:
                        path.unlink()
                        deleted += 1
                except FileNotFoundError:
                    continue
        if deleted:
            log.info("mail_files_pruned", deleted=deleted)
        return deleted

    def forget(self, addresses: Iterable[str]) -> int:
        """Delete every mail file sent to one of these addresses (a person being erased).

        Mail that went out by SMTP has left this system; nothing to do then.
        """
        wanted = {a.strip().lower() for a in addresses if a and a.strip()}
        deleted = 0
        for path in self._files() if wanted else []:
            try:
                with path.open("rb") as f:
                    headers = BytesHeaderParser().parse(f)
            except FileNotFoundError:
                continue
            recipients = getaddresses(
                [str(v) for k in ("To", "Cc", "Bcc") for v in headers.get_all(k, [])]
            )
            if any(addr.lower() in wanted for _, addr in recipients):
                path.unlink(missing_ok=True)
                deleted += 1
        if deleted:
            log.info("mail_files_forgotten", deleted=deleted)
        return deleted

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
