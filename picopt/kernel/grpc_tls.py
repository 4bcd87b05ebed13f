"""Optional mutual TLS between services, from certificate paths in the settings.

GRPC_TLS_CERT, GRPC_TLS_KEY and GRPC_TLS_CA (PEM files, all three or none):
servers present the certificate and require a client certificate signed by the
CA; clients present theirs and verify the server against the same CA.
GRPC_TLS_SERVER_NAME overrides the name checked in server certificates (when
services are addressed by IP or by a name the certificate does not carry).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from picopt.kernel.settings import Env, SettingsError

_NAMES = ("GRPC_TLS_CERT", "GRPC_TLS_KEY", "GRPC_TLS_CA")


@dataclass(frozen=True)
class TlsFiles:
    """PEM contents read once at start-up; a missing or unreadable file fails then."""

    cert: bytes
    key: bytes
    ca: bytes
    server_name: str = ""

    @classmethod
    def from_env(cls, env: Env) -> TlsFiles | None:
        paths = {name: env.str(name) for name in _NAMES}
        given = [name for name, path in paths.items() if path]
        if not given:
            return None
        if len(given) != len(_NAMES):
            missing = sorted(set(_NAMES) - set(given))
            raise SettingsError(f"mTLS needs {', '.join(_NAMES)}; missing {', '.join(missing)}")
        contents = {}
        for name, path in paths.items():
            try:
                contents[name] = Path(path).read_bytes()
            except OSError as exc:
                raise SettingsError(f"{name}: cannot read {path}: {exc.strerror}") from exc
        return cls(
            cert=contents["GRPC_TLS_CERT"],
            key=contents["GRPC_TLS_KEY"],
            ca=contents["GRPC_TLS_CA"],
            server_name=env.str("GRPC_TLS_SERVER_NAME"),
        )

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )
