"""Optional mutual TLS between services, from certificate files that may be renewed in place.

GRPC_TLS_CERT, GRPC_TLS_KEY and GRPC_TLS_CA (PEM files, all three or none):
servers present the certificate and require a client certificate signed by the
CA; clients present theirs and verify the server against the same CA.
GRPC_TLS_SERVER_NAME overrides the name checked in server certificates (when
services are addressed by IP or by a name the certificate does not carry).

Certificates are rotated without a restart: cert-manager renews a Secret and the
kubelet swaps the mounted files. A server asks `TlsFiles` on every new connection
(grpc's certificate-config fetcher) and a client channel before its calls
(`picopt.kernel.grpc_client`), and both pick up the new files once they hold a
matching key and certificate. Connections already open keep the TLS session they
made; servers recycle connections (GRPC_MAX_CONNECTION_AGE_S), so within that
time every connection has shaken hands with the new certificates.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from picopt.kernel.logs import get_logger
from picopt.kernel.settings import Env, SettingsError

log = get_logger(__name__)

_NAMES = ("GRPC_TLS_CERT", "GRPC_TLS_KEY", "GRPC_TLS_CA")
# How often a client channel looks at the files (a stat of three files); servers look on
# every new connection, which their connection recycling bounds.
CHECK_INTERVAL_S = 10.0


@dataclass(frozen=True)
class TlsMaterial:
    """One consistent set of PEM contents: a certificate, its key and the CA to trust."""

    cert: bytes
    key: bytes
    ca: bytes


def _read(paths: tuple[Path, Path, Path]) -> TlsMaterial:
    """The three files, refused when the key does not belong to the certificate (a
    renewal caught halfway) or a file is not PEM."""
    # Imported here: most processes run without TLS files, and cryptography's bindings cost
    # ~8 MB resident in each process that loads them.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert, key, ca = (path.read_bytes() for path in paths)
    try:
        leaf = x509.load_pem_x509_certificate(cert)
        private = serialization.load_pem_private_key(key, password=None)
        x509.load_pem_x509_certificates(ca)
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate, key or CA bundle: {exc}") from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    if leaf.public_key().public_bytes(pem, spki) != private.public_key().public_bytes(pem, spki):
        raise ValueError("the key does not belong to the certificate")
    return TlsMaterial(cert, key, ca)


def _stamp(paths: tuple[Path, Path, Path]) -> tuple[tuple[int, int, int], ...]:
    """What changes when a file is replaced (symlinks followed, as the kubelet swaps them)."""
    found = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            found.append((0, 0, 0))
            continue
        found.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(found)


class TlsFiles:
    """The mTLS material of one process, re-read when its files change."""

    _shared: dict[tuple[str, ...], TlsFiles] = {}
    _shared_lock = threading.Lock()

    def __init__(
        self,
        cert: Path,
        key: Path,
        ca: Path,
        server_name: str = "",
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self.paths = (cert, key, ca)
        self.server_name = server_name
        self.check_interval_s = check_interval_s
        self._lock = threading.Lock()
        self._stamp = _stamp(self.paths)
        try:
            self._material = _read(self.paths)
        except OSError as exc:
            raise SettingsError(f"cannot read {exc.filename}: {exc.strerror}") from exc
        except ValueError as exc:
            raise SettingsError(f"mTLS files: {exc}") from exc
        self._checked = time.monotonic()
        # Bumped on every reload: channels and the server's fetcher compare it.
        self.version = 0

    @classmethod
    def from_env(cls, env: Env) -> TlsFiles | None:
        """The process's TlsFiles (one per set of paths, shared by its servers and channels)."""
        paths = {name: env.str(name) for name in _NAMES}
        given = [name for name, path in paths.items() if path]
        if not given:
            return None
        if len(given) != len(_NAMES):
            missing = sorted(set(_NAMES) - set(given))
            raise SettingsError(f"mTLS needs {', '.join(_NAMES)}; missing {', '.join(missing)}")
        for name, path in paths.items():
            if not Path(path).is_file():
                raise SettingsError(f"{name}: cannot read {path}")
        server_name = env.str("GRPC_TLS_SERVER_NAME")
        key = (*(paths[name] for name in _NAMES), server_name)
        with cls._shared_lock:
            found = cls._shared.get(key)
            if found is None:
                cert, private, ca = (Path(paths[name]) for name in _NAMES)
                found = cls._shared[key] = cls(cert, private, ca, server_name)
            return found

    def current(self, *, force: bool = False) -> TlsMaterial:
        """The newest consistent material: the files are looked at again after
        `check_interval_s` (or when forced); a half-written renewal is skipped."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._checked < self.check_interval_s:
                return self._material
            self._checked = now
            stamp = _stamp(self.paths)
            if stamp == self._stamp:
                return self._material
            try:
                material = _read(self.paths)
            except (OSError, ValueError) as exc:
                log.warning("grpc_tls_reload_skipped", error=str(exc))
                return self._material
            self._stamp, self._material = stamp, material
            self.version += 1
            log.info("grpc_tls_reloaded", version=self.version)
            return material

    # Reading the contents of the current files (tests, the health-check script's peers).
    @property
    def cert(self) -> bytes:
        return self.current().cert

    @property
    def key(self) -> bytes:
        return self.current().key

    @property
    def ca(self) -> bytes:
        return self.current().ca

    def server_credentials(self) -> grpc.ServerCredentials:
        """Credentials whose certificate config is fetched anew before every handshake."""
        served = [self.version]

        def config(material: TlsMaterial) -> grpc.ServerCertificateConfiguration:
            return grpc.ssl_server_certificate_configuration(
                [(material.key, material.cert)], root_certificates=material.ca
            )

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            material = self.current(force=True)
            if self.version == served[0]:
                return None
            served[0] = self.version
            return config(material)

        return grpc.dynamic_ssl_server_credentials(
            config(self.current(force=True)), fetch, require_client_authentication=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Credentials from the current files (a channel built on them keeps them: see
        `picopt.kernel.grpc_client.make_channel`, which rebuilds on a reload)."""
        material = self.current()
        return grpc.ssl_channel_credentials(
            root_certificates=material.ca, private_key=material.key, certificate_chain=material.cert
        )
