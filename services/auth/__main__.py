"""Run the auth service: `python -m services.auth`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from picopt.auth.v1 import auth_pb2, auth_pb2_grpc
from picopt.kernel.mailer import Mailer
from picopt.kernel.messaging import Outbox
from picopt.kernel.protos import service_name
from picopt.kernel.runtime import ServiceApp
from picopt.kernel.settings import Env, local_secret
from services.auth.events import subscriptions
from services.auth.expiry import ExpiryConfig, IdentityExpiry
from services.auth.grpc_api import AuthServicer
from services.auth.notify import Notifier
from services.auth.oauth import OAuthSignIn, providers_from_env
from services.auth.privacy import AuthPrivacy
from services.auth.service import AuthConfig, AuthService
from services.auth.throttle import ThrottleConfig

MIGRATIONS = Path(__file__).parent / "migrations"


def config_from_env(env: Env, secret: bytes) -> AuthConfig:
    return AuthConfig(
        secret=secret,
        old_secrets=tuple(old.encode() for old in env.list("AUTH_SECRETS_OLD")),
        session_ttl=timedelta(seconds=env.int("SESSION_ABSOLUTE_TTL_S", 14 * 86_400)),
        session_idle_ttl=timedelta(seconds=env.int("SESSION_IDLE_TTL_S", 3 * 86_400)),
        confirm_ttl=timedelta(seconds=env.int("EMAIL_CONFIRM_TTL_S", 86_400)),
        reset_ttl=timedelta(seconds=env.int("PASSWORD_RESET_TTL_S", 3_600)),
        throttle=ThrottleConfig(
            account_free_failures=env.int("LOGIN_FREE_FAILURES_ACCOUNT", 5),
            address_free_failures=env.int("LOGIN_FREE_FAILURES_ADDRESS", 20),
            base_delay_s=env.float("LOGIN_DELAY_BASE_S", 5.0),
            max_delay_s=env.float("LOGIN_DELAY_MAX_S", 900.0),
        ),
    )


def main() -> None:
    app = ServiceApp("auth")
    env = app.settings.env
    secret = env.str("AUTH_SECRET") or local_secret(app.settings.var_dir / "auth.secret")
    config = config_from_env(env, secret.encode())
    expiry_config = ExpiryConfig.from_env(env, config.confirm_ttl)  # refused before any work
    db = app.database(MIGRATIONS)
    outbox = Outbox("auth")
    notifier = Notifier(
        Mailer.from_settings(app.settings), env.str("PUBLIC_URL", "http://127.0.0.1:8080")
    )
    service = AuthService(db, outbox, config, notifier)
    expiry = IdentityExpiry(db, expiry_config)
    oauth = OAuthSignIn(service, providers_from_env(env))
    server = app.grpc_server()
    server.add(
        auth_pb2_grpc.add_AuthServiceServicer_to_server,
        AuthServicer(service, oauth),
        [service_name(auth_pb2.DESCRIPTOR, "AuthService")],
    )
    app.consume(subscriptions(service, outbox), db=db)
    privacy = AuthPrivacy(service, outbox)
    privacy.register(server)
    app.consume(privacy.participant.subscriptions(), db=db)
    app.every("purge_expired_identity_data", expiry.config.interval_s, expiry.purge)
    app.outbox_relay(db)
    app.run()


if __name__ == "__main__":
    main()
