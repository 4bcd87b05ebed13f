"""Rate limits (flask-limiter): per API key, else per session, else per client address.

Redis holds the counters when REDIS_URL is set (shared by every gateway
process), memory otherwise. A 429 is a problem+json with Retry-After and the
RateLimit-* headers.
"""

from __future__ import annotations

import hashlib

from flask import Flask, Response, current_app, request
from flask_limiter import HeaderNames, Limiter

from picopt.kernel.settings import Settings


def rate_key() -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return "key:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:24]
    cookie = request.cookies.get(current_app.config["SESSION_COOKIE"], "")
    if cookie:
        return "session:" + hashlib.sha256(cookie.encode()).hexdigest()[:24]
    return "addr:" + (request.remote_addr or "unknown")


def address_key() -> str:
    return "addr:" + (request.remote_addr or "unknown")


def install_limiter(app: Flask, settings: Settings) -> Limiter:
    env = settings.env
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
