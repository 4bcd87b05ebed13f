"""429 answers always tell the client to wait at least a second."""

from __future__ import annotations

from flask import Flask

from picopt.kernel.settings import Settings
from services.gateway.limits import install_limiter


def test_retry_after_is_never_zero() -> None:
    app = Flask(__name__)
    app.config["SESSION_COOKIE"] = "session"
    settings = Settings.load(
        "gateway", {"RATE_LIMIT_DEFAULT": "1/second", "RATE_LIMIT_PREFIX": "test-limits"}
    )
    install_limiter(app, settings)

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    client = app.test_client()
    limited = []
    for _ in range(20):  # many 1-second windows end with less than a second left
        reply = client.get("/ping")
        if reply.status_code == 429:
            limited.append(reply.headers["Retry-After"])
    assert limited, "the limit must have been hit"
    assert all(int(value) >= 1 for value in limited), limited
