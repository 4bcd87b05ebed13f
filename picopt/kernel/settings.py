"""Settings from environment variables, with safe defaults for a one-machine run.

Every service reads its configuration through this module so names, parsing
and defaults exist once. Secrets are read here and never logged.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

SERVICES = ("gateway", "auth", "billing", "processor", "vision", "retention")
DEFAULT_GRPC_PORTS = {
    "auth": 50051,
    "billing": 50052,
    "processor": 50053,
    "vision": 50054,
    "retention": 50055,
}


class SettingsError(ValueError):
    """A setting is present but unusable; raised at start-up, never later."""


class Env:
    """Typed access to an environment mapping."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env

    def str(self, name: str, default: str = "") -> str:
        value = self.env.get(name)
        return default if value is None or value == "" else value

    # Below, `builtins.` is spelled out: inside this class `str` and friends name the methods.
    def int(self, name: builtins.str, default: builtins.int) -> builtins.int:
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc

    def float(self, name: builtins.str, default: builtins.float) -> builtins.float:
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        try:
            return float(raw)
        except ValueError as exc:
            raise SettingsError(f"{name} must be a number, got {raw!r}") from exc

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")

    def list(
        self, name: builtins.str, default: tuple[builtins.str, ...] = ()
    ) -> tuple[builtins.str, ...]:
        raw = self.env.get(name)
        if raw is None or raw.strip() == "":
            return default
        return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class MasterKeys:
    """The key that wraps new blob keys, plus older keys still able to unwrap."""

    current_id: str
    keys: dict[str, bytes] = field(repr=False)

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key, safe to store beside the data."""
    return hashlib.sha256(b"picopt-master-key" + key).hexdigest()[:12]


def _decode_key(name: str, raw: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except ValueError as exc:
        raise SettingsError(f"{name} must be base64") from exc
    if len(key) != 32:
        raise SettingsError(f"{name} must decode to 32 bytes, got {len(key)}")
    return key


@dataclass(frozen=True)
class Settings:
    """The settings shared by every service."""

    service: str
    var_dir: Path
    log_level: str
    amqp_url: str
    redis_url: str
    blob_backend: str
    blob_dir: Path
    mail_dir: Path
    grpc_host: str
    grpc_port: int
    metrics_port: int
    grpc_deadline_s: float
    addresses: dict[str, str]
    env: Env = field(repr=False)
    metrics_host: str = "127.0.0.1"
    grpc_health_port: int = 0
    grpc_keepalive_s: float = 20.0
    grpc_max_connection_age_s: float = 60.0

    @classmethod
    def load(cls, service: str, env: Mapping[str, str] | None = None) -> Settings:
        e = Env(env)
        var_dir = Path(e.str("VAR_DIR", "var"))
        upper = service.upper()
        addresses = {
            name: e.str(f"{name.upper()}_ADDR", f"127.0.0.1:{port}")
            for name, port in DEFAULT_GRPC_PORTS.items()
        }
        return cls(
            service=service,
            var_dir=var_dir,
            log_level=e.str("LOG_LEVEL", "info"),
            amqp_url=e.str("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
            redis_url=e.str("REDIS_URL", ""),
            blob_backend=e.str("BLOB_BACKEND", "fs"),
            blob_dir=Path(e.str("BLOB_DIR", str(var_dir / "blobs"))),
            mail_dir=Path(e.str("MAIL_DIR", str(var_dir / "mail"))),
            grpc_host=e.str("GRPC_HOST", "127.0.0.1"),
            grpc_port=e.int(f"{upper}_GRPC_PORT", DEFAULT_GRPC_PORTS.get(service, 0)),
            metrics_port=e.int(f"{upper}_METRICS_PORT", e.int("METRICS_PORT", 0)),
            grpc_deadline_s=e.float("GRPC_DEADLINE_S", 5.0),
            addresses=addresses,
            env=e,
            metrics_host=e.str("METRICS_HOST", e.str("GRPC_HOST", "127.0.0.1")),
            grpc_health_port=e.int(f"{upper}_GRPC_HEALTH_PORT", e.int("GRPC_HEALTH_PORT", 0)),
            grpc_keepalive_s=e.float("GRPC_KEEPALIVE_S", 20.0),
            grpc_max_connection_age_s=e.float("GRPC_MAX_CONNECTION_AGE_S", 60.0),
        )

    def master_keys(self) -> MasterKeys:
        """MASTER_KEY (current) and MASTER_KEYS_OLD (comma list, for rotation).

        Without MASTER_KEY a key is generated once into var/master.key so a
        one-machine run works; production must set it.
        """
        raw = self.env.str("MASTER_KEY")
        if raw:
            current = _decode_key("MASTER_KEY", raw)
        else:
            current = _decode_key("var/master.key", local_secret(self.var_dir / "master.key"))
        keys = {key_id(current): current}
        for i, old in enumerate(self.env.list("MASTER_KEYS_OLD")):
            k = _decode_key(f"MASTER_KEYS_OLD[{i}]", old)
            keys[key_id(k)] = k
        return MasterKeys(current_id=key_id(current), keys=keys)


def local_secret(path: Path) -> str:
    """A random secret kept in var/ so a one-machine run works without configuration.

    The first process to start creates it; concurrent starters read the winner's.
    Production sets the corresponding environment variable instead.
    """
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = base64.b64encode(secrets.token_bytes(32)).decode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    try:
        os.link(tmp, path)  # atomic: loses to a concurrent first writer
    except FileExistsError:
        return path.read_text().strip()
    finally:
        tmp.unlink()
    log.warning(
        "local_secret_generated", file=path.name, hint="set it from the environment in production"
    )
    return value
