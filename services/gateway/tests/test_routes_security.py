"""Security rules of the routes against fake backends (issue 13, Low list): API keys are
offered for revocation with a reset or "sign out everywhere", a key alone cannot erase an
account without the password, and the CSRF cookie is `__Host-` and bound to the session."""

from __future__ import annotations

from flask.testing import FlaskClient

from picopt.kernel.settings import Settings
from services.gateway.app import create_app
from services.gateway.tests.conftest import PASSWORD, csrf, signed_in
from services.gateway.tests.fakes import FakeBackends


def new_key(client: FlaskClient) -> dict[str, str]:
    reply = client.post("/v1/api-keys", json={"name": "ci"}, headers=csrf(client))
    assert reply.status_code == 201
    return {"Authorization": f"Bearer {reply.get_json()['key']}"}


def test_an_api_key_alone_cannot_erase_the_account(
    client: FlaskClient, backends: FakeBackends
) -> None:
    user_id = signed_in(client, backends)
    key = new_key(client)
    api = client.application.test_client()
    refused = api.delete("/v1/account", headers=key)
    assert refused.status_code == 403
    assert refused.get_json()["type"] == "/problems/reauthentication-required"
    wrong = api.delete("/v1/account", json={"password": "a guess at it"}, headers=key)
    assert wrong.status_code == 401
    assert not backends.auth.accounts[user_id].disabled
    done = api.delete("/v1/account", json={"password": PASSWORD}, headers=key)
    assert done.status_code == 202 and done.get_json()["kind"] == "erasure"
    assert backends.auth.accounts[user_id].disabled


def test_signing_out_everywhere_revokes_keys_only_when_asked(
    client: FlaskClient, backends: FakeBackends
) -> None:
    signed_in(client, backends)
    key = new_key(client)
    api = client.application.test_client()
    assert client.post("/v1/auth/logout-everywhere", headers=csrf(client)).status_code == 204
    assert api.get("/v1/account", headers=key).status_code == 200
    signed_in(client, backends, "bo@example.test")
    other_key = new_key(client)
    reply = client.post(
        "/v1/auth/logout-everywhere", json={"revoke_api_keys": True}, headers=csrf(client)
    )
    assert reply.status_code == 204
    assert api.get("/v1/account", headers=other_key).status_code == 401
    assert api.get("/v1/account", headers=key).status_code == 200  # another user's key


def test_a_password_reset_can_revoke_every_key(client: FlaskClient, backends: FakeBackends) -> None:
    user_id = signed_in(client, backends)
    key = new_key(client)
    client.post("/v1/auth/password-reset", json={"email": "ada@example.test"})
    reply = client.post(
        "/v1/auth/password-reset/confirm",
        json={"token": f"reset-{user_id}", "password": "a new passphrase", "revoke_api_keys": True},
    )
    assert reply.status_code == 204
    assert client.application.test_client().get("/v1/account", headers=key).status_code == 401


def test_the_csrf_token_is_bound_to_the_session(
    client: FlaskClient, backends: FakeBackends
) -> None:
    """A token planted next to the victim's session (cookie tossing) no longer passes."""
    signed_in(client, backends)
    own = csrf(client)
    other = client.application.test_client()
    signed_in(other, backends, "bo@example.test")
    for forged in ("x", csrf(other)["X-CSRF-Token"]):
        client.set_cookie("csrf_token", forged)
        reply = client.post("/v1/api-keys", json={"name": "x"}, headers={"X-CSRF-Token": forged})
        assert reply.status_code == 403 and reply.get_json()["code"] == "csrf-failed"
    assert client.post("/v1/api-keys", json={"name": "x"}, headers=own).status_code == 201


def test_secure_cookies_carry_the_host_prefix(
    gateway_env: dict[str, str], backends: FakeBackends
) -> None:
    settings = Settings.load("gateway", {**gateway_env, "SESSION_COOKIE_SECURE": "true"})
    client = create_app(settings, backends=backends).test_client()
    backends.auth.add_user("ada@example.test", PASSWORD)
    login = client.post("/v1/auth/login", json={"email": "ada@example.test", "password": PASSWORD})
    cookies = {c.split("=", 1)[0]: c for c in login.headers.getlist("Set-Cookie")}
    assert set(cookies) == {"__Host-session", "__Host-csrf"}
    for header in cookies.values():
        parts = {p.strip() for p in header.split(";")}
        assert {"Secure", "Path=/"} <= parts and not any(p.startswith("Domain") for p in parts)
    assert "HttpOnly" not in cookies["__Host-csrf"]  # the page reads it
