"""The shared mailer against a real SMTP server (aiosmtpd) on loopback, and the file transport."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import os
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from picopt.devstack import free_port
from picopt.kernel.mailer import Mailer, MailError, SmtpConfig
from picopt.kernel.settings import Settings, SettingsError

USER, PASSWORD = "relay-user", "relay password 1"


def self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` and localhost and its key (PEM); the cert is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Inbox:
    """What the SMTP server accepted: raw messages, envelope recipients and whether TLS was on."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    over_tls: list[bool] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))
        self.over_tls.append(session.ssl is not None)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            self.logins.append(USER)
        return AuthResult(success=ok)


@dataclass
class SmtpServer:
    port: int
    ca_file: Path
    inbox: Inbox


def start_smtp(directory: Path) -> tuple[Controller, SmtpServer]:
    """aiosmtpd on loopback that requires STARTTLS before MAIL and AUTH (LOGIN/PLAIN)."""
    cert, key = self_signed_cert(directory)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=True,
        authenticator=inbox.authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    return controller, SmtpServer(port, cert, inbox)


@pytest.fixture()
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    controller, server = start_smtp(tmp_path / "tls")
    try:
        yield server
    finally:
        controller.stop()


def smtp_mailer(server: SmtpServer, **changes: Any) -> Mailer:
    cfg = {
        "host": "127.0.0.1",
        "port": server.port,
        "starttls": True,
        "username": USER,
        "password": PASSWORD,
        "timeout_s": 5.0,
        "ca_file": str(server.ca_file),
        **changes,
    }
    return Mailer("Picture Optimizer <no-reply@picopt.test>", smtp=SmtpConfig(**cfg))


def test_smtp_with_starttls_and_auth_delivers_text_and_html(smtp: SmtpServer) -> None:
    message_id = smtp_mailer(smtp).send(
        "ada@example.test", "Welcome", "plain body", html="<p>html body</p>", kind="test"
    )
    assert smtp.inbox.over_tls == [True]
    assert smtp.inbox.logins == [USER]
    assert smtp.inbox.recipients == [["ada@example.test"]]
    (message,) = smtp.inbox.messages
    assert message["Message-ID"] == message_id
    assert message["Subject"] == "Welcome"
    assert message["From"] == "Picture Optimizer <no-reply@picopt.test>"
    assert message.get_body(("plain",)).get_content().strip() == "plain body"  # type: ignore[union-attr]
    assert message.get_body(("html",)).get_content().strip() == "<p>html body</p>"  # type: ignore[union-attr]


def test_an_untrusted_certificate_is_refused(smtp: SmtpServer) -> None:
    with pytest.raises(MailError) as raised:
        smtp_mailer(smtp, ca_file="").send("ada@example.test", "s", "t")
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)
    assert smtp.inbox.messages == []


def test_wrong_credentials_raise_mail_error_and_send_nothing(smtp: SmtpServer) -> None:
    with pytest.raises(MailError):
        smtp_mailer(smtp, password="wrong").send("ada@example.test", "s", "t")
    assert smtp.inbox.messages == []


def test_credentials_are_never_sent_without_starttls(smtp: SmtpServer) -> None:
    with pytest.raises(MailError):
        smtp_mailer(smtp, starttls=False).send("ada@example.test", "s", "t")
    assert smtp.inbox.logins == [] and smtp.inbox.messages == []


def test_an_unreachable_server_raises_mail_error(smtp: SmtpServer) -> None:
    with pytest.raises(MailError):
        smtp_mailer(smtp, port=free_port()).send("ada@example.test", "s", "t")


def test_file_transport_writes_one_complete_eml_per_message(tmp_path: Path) -> None:
    mailer = Mailer("no-reply@picopt.test", mail_dir=tmp_path / "mail")
    first = mailer.send("ada@example.test", "One", "first")
    mailer.send("bob@example.test", "Two", "second")
    files = sorted((tmp_path / "mail").iterdir())
    assert len(files) == 2 and all(f.suffix == ".eml" for f in files)
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    assert {m["To"] for m in parsed} == {"ada@example.test", "bob@example.test"}
    assert first in {m["Message-ID"] for m in parsed}


def test_from_settings_reads_the_smtp_settings(smtp: SmtpServer, tmp_path: Path) -> None:
    env = {
        "VAR_DIR": str(tmp_path / "var"),
        "MAIL_TRANSPORT": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_USERNAME": USER,
        "SMTP_PASSWORD": PASSWORD,
        "SMTP_CA_FILE": str(smtp.ca_file),
        "MAIL_FROM": "Ops <ops@picopt.test>",
    }
    mailer = Mailer.from_settings(Settings.load("test", env))
    mailer.send("ada@example.test", "Via settings", "body")
    assert smtp.inbox.over_tls == [True]
    assert smtp.inbox.messages[0]["From"] == "Ops <ops@picopt.test>"


def test_mail_files_older_than_their_lifetime_are_pruned(tmp_path: Path) -> None:
    mail_dir = tmp_path / "mail"
    mailer = Mailer("no-reply@picopt.test", mail_dir=mail_dir, file_ttl_s=3600)
    mailer.send("ada@example.test", "Old", "old")
    (old,) = mail_dir.iterdir()
    stale = mail_dir / ".abandoned.eml.tmp"
    stale.write_bytes(b"half written")
    two_hours_ago = time.time() - 7200
    for path in (old, stale):
        os.utime(path, (two_hours_ago, two_hours_ago))
    mailer.send("bob@example.test", "New", "new")
    assert mailer.prune() == 2
    (kept,) = mail_dir.iterdir()
    assert b"bob@example.test" in kept.read_bytes()


def test_sending_prunes_now_and_then_without_being_asked(tmp_path: Path) -> None:
    mail_dir = tmp_path / "mail"
    mailer = Mailer("no-reply@picopt.test", mail_dir=mail_dir, file_ttl_s=60)
    mailer.send("ada@example.test", "Old", "old")
    (old,) = mail_dir.iterdir()
    os.utime(old, (time.time() - 120, time.time() - 120))
    Mailer("no-reply@picopt.test", mail_dir=mail_dir, file_ttl_s=60).send("b@x.test", "s", "t")
    assert not old.exists()


def test_erasure_forgets_every_mail_file_addressed_to_the_person(tmp_path: Path) -> None:
    mail_dir = tmp_path / "mail"
    mailer = Mailer("no-reply@picopt.test", mail_dir=mail_dir)
    mailer.send("Ada.Lovelace@Example.test", "Confirm", "Hello Ada")
    mailer.send("ada.new@example.test", "Confirm the new address", "Hello Ada")
    mailer.send("bob@example.test", "Receipt", "Hello Bob")
    assert mailer.forget(["ada.lovelace@example.test", "ada.new@example.test", ""]) == 2
    (kept,) = mail_dir.iterdir()
    assert b"bob@example.test" in kept.read_bytes()
    assert mailer.forget([]) == 0


@pytest.mark.parametrize("ttl", ["0", "2592001", "a day"])
def test_a_mail_file_lifetime_beyond_30_days_is_refused(tmp_path: Path, ttl: str) -> None:
    env = {"VAR_DIR": str(tmp_path / "var"), "MAIL_FILE_TTL_S": ttl}
    with pytest.raises(SettingsError, match="MAIL_FILE_TTL_S"):
        Mailer.from_settings(Settings.load("test", env))
