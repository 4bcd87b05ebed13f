"""Run the auth service: `python -m services.auth`."""

from __future__ import annotations

from pathlib import Path

from picopt.auth.v1 import auth_pb2, auth_pb2_grpc
from picopt.kernel.messaging import Outbox
from picopt.kernel.protos import service_name
from picopt.kernel.runtime import ServiceApp
from picopt.kernel.settings import local_secret
from services.auth.grpc_api import AuthServicer
from services.auth.service import AuthConfig, AuthService

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    app = ServiceApp("auth")
    env = app.settings.env
    secret = env.str("AUTH_SECRET") or local_secret(app.settings.var_dir / "auth.secret")
    db = app.database(MIGRATIONS)
    service = AuthService(db, Outbox("auth"), AuthConfig(secret=secret.encode()))
    app.grpc_server().add(
        auth_pb2_grpc.add_AuthServiceServicer_to_server,
        AuthServicer(service),
        [service_name(auth_pb2.DESCRIPTOR, "AuthService")],
    )
    app.outbox_relay(db)
    app.run()


if __name__ == "__main__":
    main()
