"""Production mode refuses to start without the settings a deployment needs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from picopt.devstack import ROOT
from picopt.kernel.production import missing
from picopt.kernel.settings import Env

COMPLETE = {
    "ENVIRONMENT": "production",
    "DATABASE_URL": "postgresql://auth@db/picopt",
    "AMQP_URL": "amqp://auth:pw@mq:5672/%2F",
    "GRPC_TLS_CERT": "/etc/picopt/tls/tls.crt",
    "GRPC_TLS_KEY": "/etc/picopt/tls/tls.key",
    "GRPC_TLS_CA": "/etc/picopt/tls/ca.crt",
    "MASTER_KEY": "a2V5",
    "BLOB_BACKEND": "s3",
    "S3_BUCKET": "picopt-blobs",
    "S3_REGION": "eu-central-1",
    "MAIL_TRANSPORT": "smtp",
    "SMTP_HOST": "smtp.example.com",
    "MAIL_FROM": "Picture Optimizer <no-reply@example.com>",
    "PUBLIC_URL": "https://picopt.example.com",
    "TRUSTED_PROXIES": "1",
    "REDIS_URL": "redis://redis:6379/0",
    "AUTH_SECRET": "s",
    "RETENTION_STAFF_TOKEN": "t",
    "BILLING_STAFF_TOKEN": "b",
}
SERVICES = ("gateway", "auth", "billing", "processor", "vision", "retention")


@pytest.mark.parametrize("service", SERVICES)
def test_a_complete_production_environment_passes(service: str) -> None:
    assert missing(service, Env(COMPLETE)) == []


@pytest.mark.parametrize("service", SERVICES)
def test_outside_production_nothing_is_required(service: str) -> None:
    assert missing(service, Env({})) == []
    assert missing(service, Env({"ENVIRONMENT": "development"})) == []


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("gateway", ["GRPC_TLS_CERT", "TRUSTED_PROXIES", "REDIS_URL", "MASTER_KEY"]),
        ("auth", ["DATABASE_URL", "AMQP_URL", "MAIL_TRANSPORT", "PUBLIC_URL", "AUTH_SECRET"]),
        ("billing", ["DATABASE_URL", "MAIL_TRANSPORT", "MAIL_FROM", "PUBLIC_URL", "BILLING_STAFF"]),
        ("processor", ["DATABASE_URL", "MASTER_KEY"]),
        ("vision", ["AMQP_URL", "MASTER_KEY"]),
        ("vision", ["-DATABASE_URL", "-PUBLIC_URL", "-MAIL_TRANSPORT"]),
        ("gateway", ["-DATABASE_URL", "-AMQP_URL"]),
        ("retention", ["MASTER_KEY", "MAIL_TRANSPORT", "PUBLIC_URL", "RETENTION_STAFF_TOKEN"]),
    ],
)
def test_every_missing_setting_is_named_at_once(service: str, expected: list[str]) -> None:
    problems = " | ".join(missing(service, Env({"ENVIRONMENT": "production"})))
    for name in expected:
        if name.startswith("-"):  # not needed by this service
            assert name[1:] not in problems, (name, problems)
        else:
            assert name in problems, (name, problems)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"PUBLIC_URL": "http://picopt.example.com"}, "https://"),
        ({"TRUSTED_PROXIES": "0"}, "TRUSTED_PROXIES"),
        ({"TRUSTED_PROXIES": "one"}, "TRUSTED_PROXIES must be an integer"),
        ({"SESSION_COOKIE_SECURE": "false"}, "SESSION_COOKIE_SECURE"),
        ({"MAIL_TRANSPORT": "file"}, "MAIL_TRANSPORT must be smtp"),
        ({"MAIL_FROM": "Picture Optimizer <no-reply@localhost>"}, "MAIL_FROM"),
        ({"S3_REGION": ""}, "S3_REGION"),
        ({"GRPC_TLS_CA": ""}, "GRPC_TLS_CA"),
    ],
)
def test_unusable_values_are_refused_too(change: dict[str, str], named: str) -> None:
    env = Env({**COMPLETE, **change})
    problems = [p for s in SERVICES for p in missing(s, env)]
    assert any(named in p for p in problems), problems


def test_s3_settings_are_only_required_with_the_s3_backend() -> None:
    env = Env({**COMPLETE, "BLOB_BACKEND": "fs", "S3_BUCKET": "", "S3_REGION": ""})
    assert missing("processor", env) == []


@pytest.mark.parametrize(
    ("module", "named"),
    [
        (["services.gateway"], ["TRUSTED_PROXIES", "REDIS_URL"]),
        (["services.retention"], ["RETENTION_STAFF_TOKEN", "SMTP_HOST"]),
    ],
)
def test_a_process_in_production_mode_refuses_to_start(
    module: list[str], named: list[str], tmp_path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "TRUSTED"))},
        **COMPLETE,
        "TRUSTED_PROXIES": "",
        "REDIS_URL": "",
        "RETENTION_STAFF_TOKEN": "",
        "SMTP_HOST": "",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", *module],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "refusing to start" in result.stderr
    for name in named:
        assert name in result.stderr
