"""A gateway app wired to in-memory fake backends and a real blob store in a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from picopt.kernel.settings import Settings
from services.gateway.app import create_app
from services.gateway.tests.fakes import FakeBackends

PASSWORD = "a long passphrase"


@pytest.fixture
def backends() -> FakeBackends:
    return FakeBackends()


@pytest.fixture
def gateway_env(tmp_path: Path) -> dict[str, str]:
    return {
        "VAR_DIR": str(tmp_path / "var"),
        "BLOB_DIR": str(tmp_path / "blobs"),
        "SESSION_COOKIE_SECURE": "false",
        "RATE_LIMIT_AUTH": "1000/minute",
        "RATE_LIMIT_PREFIX": f"test-{tmp_path.name}",
    }


@pytest.fixture
def app(gateway_env: dict[str, str], backends: FakeBackends) -> Flask:
    return create_app(Settings.load("gateway", gateway_env), backends=backends)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def signed_in(client: FlaskClient, backends: FakeBackends, email: str = "ada@example.test") -> str:
    """Sign a fresh confirmed user in through the API; returns the user id."""
    user_id = backends.auth.add_user(email, PASSWORD)
    reply = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert reply.status_code == 200, reply.get_json()
    return user_id


def csrf(client: FlaskClient) -> dict[str, str]:
    cookie = client.get_cookie("__Host-csrf") or client.get_cookie("csrf_token")
    assert cookie is not None
    return {"X-CSRF-Token": cookie.value}
