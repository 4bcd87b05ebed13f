"""Rate limits: 429 answers say to wait at least a second; buckets follow verified
credentials only (issue 13 item 4)."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from flask import Flask

from picopt.auth.v1 import auth_pb2
from picopt.kernel.errors import ERROR_CODE_KEY
from picopt.kernel.settings import Settings
from services.gateway.app import create_app
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


class _Rejected(grpc.RpcError):
    """What auth answers for a key it does not know."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAUTHENTICATED

    def details(self) -> str:
        return "API key is invalid or revoked"

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return ((ERROR_CODE_KEY, "invalid_api_key"),)


class _Auth:
    """Accepts one key; counts every call, as auth would pay for each."""

    def __init__(self) -> None:
        self.calls = 0

    def AuthenticateApiKey(self, request: Any) -> auth_pb2.AuthenticateApiKeyResponse:
        self.calls += 1
        if request.api_key != GOOD_KEY:
            raise _Rejected()
        return auth_pb2.AuthenticateApiKeyResponse(user_id="user-1", key_id="key-1")

    def GetUser(self, request: Any) -> auth_pb2.GetUserResponse:
        return auth_pb2.GetUserResponse(user=auth_pb2.User(id="user-1", email="a@example.test"))


GOOD_KEY = "po_live_abcdefgh_good"


@pytest.fixture
def limited(tmp_path: Path) -> tuple[Flask, _Auth]:
    settings = Settings.load(
        "gateway",
        {
            "VAR_DIR": str(tmp_path),
            "RATE_LIMIT_DEFAULT": "5/minute",
            "RATE_LIMIT_PREFIX": f"t-{uuid.uuid4().hex[:8]}",
        },
    )
    auth = _Auth()
    backends = SimpleNamespace(auth=auth)
    return create_app(settings, backends=backends, blobs=object()), auth  # type: ignore[arg-type]


def _get(app: Flask, key: str, address: str) -> Any:
    return app.test_client().get(
        "/v1/account",
        headers={"Authorization": f"Bearer {key}"},
        environ_base={"REMOTE_ADDR": address},
    )


def test_made_up_credentials_count_against_the_address(limited: tuple[Flask, _Auth]) -> None:
    """Each `Bearer junkN` used to get a fresh bucket (and cost an auth call)."""
    app, auth = limited
    statuses = [_get(app, f"junk{i}", "203.0.113.9").status_code for i in range(12)]
    assert statuses == [401] * 5 + [429] * 7
    assert auth.calls == 5
    assert _get(app, "junk-elsewhere", "198.51.100.1").status_code == 401  # other clients


def test_a_verified_key_gets_its_own_bucket(limited: tuple[Flask, _Auth]) -> None:
    app, _ = limited
    # The first request (unverified) counts against the address, then the key's own five.
    statuses = [_get(app, GOOD_KEY, "192.0.2.7").status_code for _ in range(7)]
    assert statuses == [200] * 6 + [429]
    # The address still has four of its five for made-up keys.
    junk = [_get(app, f"junk{i}", "192.0.2.7").status_code for i in range(5)]
    assert junk == [401] * 4 + [429]
