"""Rate limits (flask-limiter): per API key or session once auth has accepted it, else per
client address.

A credential gets a bucket of its own only after auth verified it (`VerifiedCredentials`,
filled by `services.gateway.identity`); until then its requests count against the
client's address. Otherwise every made-up `Bearer junkN` would get a fresh bucket and
each would still cost a call to auth. The client address is the peer, or with
TRUSTED_PROXIES the address the trusted proxies saw (werkzeug's ProxyFix).

Redis holds the counters when REDIS_URL is set (shared by every gateway
process), memory otherwise. A 429 is a problem+json with Retry-After and the
RateLimit-* headers.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

from flask import Flask, Response, current_app, request
from flask_limiter import HeaderNames, Limiter

from picopt.kernel.settings import Settings

VERIFIED_TTL_S = 300.0
VERIFIED_CAPACITY = 50_000


class VerifiedCredentials:
    """Digests of credentials auth accepted in the last few minutes, per gateway process.

    Only bucket choice depends on it: every request is still authenticated by auth, so a
    key revoked meanwhile is refused at once; it merely keeps its own bucket a while.
    Bounded: the oldest entries go first.
    """

    def __init__(self, ttl_s: float = VERIFIED_TTL_S, capacity: int = VERIFIED_CAPACITY) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._until: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, digest: str) -> None:
        if not digest:
            return
        with self._lock:
            self._until[digest] = time.monotonic() + self.ttl_s
            self._until.move_to_end(digest)
            while len(self._until) > self.capacity:
                self._until.popitem(last=False)

    def __contains__(self, digest: object) -> bool:
        with self._lock:
            until = self._until.get(str(digest))
            if until is None:
                return False
            if until <= time.monotonic():
                del self._until[str(digest)]
                return False
            return True


def _digest(kind: str, secret: str) -> str:
    return f"{kind}:" + hashlib.sha256(secret.encode()).hexdigest()[:24]


def credential_key() -> str:
    """The bucket name of the credential this request carries ("" without one)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return _digest("key", header[7:].strip())
    cookie = request.cookies.get(current_app.config["SESSION_COOKIE"], "")
    return _digest("session", cookie) if cookie else ""


def verified() -> VerifiedCredentials:
    found: VerifiedCredentials = current_app.extensions["verified_credentials"]
    return found


def remember_api_key(key: str) -> None:
    """A key auth just accepted or issued gets its own bucket from the next request on."""
    verified().add(_digest("key", key))


def remember_session(token: str) -> None:
    verified().add(_digest("session", token))


def rate_key() -> str:
    credential = credential_key()
    if credential and credential in verified():
        return credential
    return address_key()


def address_key() -> str:
    return "addr:" + (request.remote_addr or "unknown")


def install_limiter(app: Flask, settings: Settings) -> Limiter:
    env = settings.env
    app.extensions["verified_credentials"] = VerifiedCredentials()
    # Registered before the limiter's own header hook, so it runs after it (Flask runs
    # after_request hooks in reverse order) and sees the final Retry-After.
    app.after_request(_never_retry_immediately)
    limiter = Limiter(
        rate_key,
        app=app,
        default_limits=[env.str("RATE_LIMIT_DEFAULT", "600/minute")],
        headers_enabled=True,
        header_name_mapping={
            HeaderNames.LIMIT: "RateLimit-Limit",
            HeaderNames.REMAINING: "RateLimit-Remaining",
            HeaderNames.RESET: "RateLimit-Reset",
            HeaderNames.RETRY_AFTER: "Retry-After",
        },
        storage_uri=settings.redis_url or "memory://",
        key_prefix=env.str("RATE_LIMIT_PREFIX", "picopt"),
        strategy="fixed-window",
        swallow_errors=True,
    )
    app.extensions["auth_limit"] = env.str("RATE_LIMIT_AUTH", "30/minute")
    return limiter


def _never_retry_immediately(response: Response) -> Response:
    """flask-limiter floors the seconds left; "0" would invite a retry that is still limited."""
    if response.status_code == 429 and response.headers.get("Retry-After") == "0":
        response.headers["Retry-After"] = "1"
    return response
