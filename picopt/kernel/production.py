"""Production mode: a process refuses to start without what a real deployment needs.

The defaults make a one-machine run work: keys generated into var/, mail written
to files, rate limits in memory, every client seen as the proxy's address, links
to 127.0.0.1. In a deployment each of them fails quietly, so with
`ENVIRONMENT=production` (the prod overlay sets it) every process checks its
settings first and names everything missing at once, before it touches the
database or the broker. One table says who needs what.
"""

from __future__ import annotations

from collections.abc import Callable

from picopt.kernel.logs import get_logger
from picopt.kernel.settings import Env, SettingsError

log = get_logger(__name__)

PRODUCTION_NAMES = frozenset({"production", "prod"})

DATABASE_USERS = frozenset({"auth", "billing", "processor", "retention"})
BLOB_USERS = frozenset({"gateway", "processor", "vision", "retention"})
MAIL_SENDERS = frozenset({"auth", "billing", "retention"})
# PUBLIC_URL: links in mail (auth, billing receipts, retention's policy notices) and the
# OAuth callback (gateway).
LINK_MAKERS = frozenset({"gateway", "auth", "billing", "retention"})

_Check = Callable[[Env], str]


def is_production(env: Env) -> bool:
    return env.str("ENVIRONMENT").strip().lower() in PRODUCTION_NAMES


def _set(name: str) -> _Check:
    return lambda env: "" if env.str(name) else f"{name} is not set"


def _database(service: str) -> _Check:
    specific = f"{service.upper()}_DATABASE_URL"
    return lambda env: (
        "" if env.str(specific) or env.str("DATABASE_URL") else "DATABASE_URL is not set"
    )


def _https_public_url(env: Env) -> str:
    url = env.str("PUBLIC_URL")
    if not url:
        return "PUBLIC_URL is not set"
    return "" if url.startswith("https://") else "PUBLIC_URL must be an https:// URL"


def _smtp(env: Env) -> str:
    if env.str("MAIL_TRANSPORT", "file") != "smtp":
        return "MAIL_TRANSPORT must be smtp (the file transport keeps mail in the pod)"
    return "" if env.str("SMTP_HOST") else "SMTP_HOST is not set"


def _mail_from(env: Env) -> str:
    sender = env.str("MAIL_FROM")
    if not sender or sender.rstrip(">").endswith("@localhost"):
        return "MAIL_FROM is not set to an address of yours"
    return ""


def _trusted_proxies(env: Env) -> str:
    if env.int("TRUSTED_PROXIES", 0) < 1:
        return "TRUSTED_PROXIES is not set (every client would share the proxy's address)"
    return ""


def _redis(env: Env) -> str:
    return "" if env.str("REDIS_URL") else "REDIS_URL is not set (rate limits would be per process)"


def _secure_cookie(env: Env) -> str:
    return "" if env.bool("SESSION_COOKIE_SECURE", True) else "SESSION_COOKIE_SECURE is false"


def _mtls(env: Env) -> str:
    missing = [n for n in ("GRPC_TLS_CERT", "GRPC_TLS_KEY", "GRPC_TLS_CA") if not env.str(n)]
    return f"mTLS between services needs {', '.join(missing)}" if missing else ""


def _s3(env: Env) -> str:
    if env.str("BLOB_BACKEND", "fs") != "s3":
        return ""
    missing = [n for n in ("S3_BUCKET", "S3_REGION") if not env.str(n)]
    return f"BLOB_BACKEND=s3 needs {', '.join(missing)}" if missing else ""


def requirements(service: str) -> list[_Check]:
    """What `service` (gateway, auth, billing, processor, vision, retention) needs in production."""
    checks: list[_Check] = [_mtls]
    if service == "gateway":  # no database, no broker: it asks the services over gRPC
        checks += [_trusted_proxies, _redis, _secure_cookie]
    else:
        checks.append(_set("AMQP_URL"))
    if service in DATABASE_USERS:
        checks.append(_database(service))
    if service in BLOB_USERS:
        checks += [_set("MASTER_KEY"), _s3]
    if service in MAIL_SENDERS:
        checks += [_smtp, _mail_from]
    if service in LINK_MAKERS:
        checks.append(_https_public_url)
    if service == "auth":
        checks.append(_set("AUTH_SECRET"))
    if service == "billing":
        checks.append(_set("BILLING_STAFF_TOKEN"))
    if service == "retention":
        checks.append(_set("RETENTION_STAFF_TOKEN"))
    return checks


def missing(service: str, env: Env) -> list[str]:
    """Every unmet requirement of `service`, empty outside production."""
    if not is_production(env):
        return []
    problems = []
    for check in requirements(service):
        try:
            problem = check(env)
        except SettingsError as err:
            problem = str(err)
        if problem:
            problems.append(problem)
    return problems


def refuse_to_start_if_incomplete(service: str, env: Env) -> None:
    """Exit (status 1, every problem named) when production mode lacks a needed setting.

    Called first thing by every process (ServiceApp, the gateway's main), so nothing is
    migrated, declared or bound by a process that cannot serve.
    """
    problems = missing(service, env)
    if problems:
        log.error("refusing_to_start", problems=problems)
        raise SystemExit(f"{service}: refusing to start: {'; '.join(problems)}")
