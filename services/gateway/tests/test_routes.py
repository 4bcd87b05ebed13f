"""The main routes against fake backends: what each answers, what it asks the services,
and that a failing backend gives a clear problem and undoes what was started."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from picopt.kernel.protos import from_timestamp
from services.gateway.tests.conftest import PASSWORD, csrf, signed_in
from services.gateway.tests.fakes import FakeBackends


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _problem(reply: object, status: int, code: str) -> dict[str, object]:
    assert reply.status_code == status, reply.get_json()  # type: ignore[attr-defined]
    assert reply.headers["Content-Type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = reply.get_json()  # type: ignore[attr-defined]
    assert body["code"] == code, body
    return body


# -- auth -------------------------------------------------------------------------------


def test_signup_confirm_login_logout(client: FlaskClient, backends: FakeBackends) -> None:
    reply = client.post(
        "/v1/auth/signup", json={"name": "Ada", "email": "ada@example.test", "password": PASSWORD}
    )
    assert reply.status_code == 202
    (token,) = backends.auth.confirm_tokens
    assert client.post("/v1/auth/confirm", json={"token": token}).get_json()["user"][
        "email_confirmed"
    ]
    login = client.post("/v1/auth/login", json={"email": "ada@example.test", "password": PASSWORD})
    assert login.status_code == 200
    assert client.get_cookie("session") is not None and client.get_cookie("csrf_token")
    assert client.post("/v1/auth/logout").status_code == 403  # no CSRF header
    assert client.post("/v1/auth/logout", headers=csrf(client)).status_code == 204
    assert not backends.auth.sessions


def test_wrong_password_is_a_401_problem(client: FlaskClient, backends: FakeBackends) -> None:
    backends.auth.add_user("ada@example.test")
    reply = client.post("/v1/auth/login", json={"email": "ada@example.test", "password": "nope"})
    _problem(reply, 401, "invalid_credentials")


def test_auth_down_is_a_503_naming_the_service(client: FlaskClient, backends: FakeBackends) -> None:
    backends.auth.down = True
    reply = client.post("/v1/auth/login", json={"email": "a@example.test", "password": "x" * 9})
    assert "auth" in str(_problem(reply, 503, "service-unavailable")["detail"])


# -- account and api keys -----------------------------------------------------------------


def test_account_read_and_update(client: FlaskClient, backends: FakeBackends) -> None:
    signed_in(client, backends)
    assert client.get("/v1/account").get_json()["user"]["name"] == "Ada"
    reply = client.patch(
        "/v1/account", json={"name": "Ada L.", "language": "pt-BR"}, headers=csrf(client)
    )
    assert reply.status_code == 200
    assert reply.get_json()["user"]["name"] == "Ada L."
    assert reply.get_json()["user"]["language"] == "pt-BR"


def test_account_refuses_a_provider_the_deployment_does_not_enable(
    client: FlaskClient, backends: FakeBackends
) -> None:
    signed_in(client, backends)
    reply = client.patch("/v1/account", json={"vision_provider": "gemini"}, headers=csrf(client))
    assert _problem(reply, 400, "invalid-option")["field"] == "vision_provider"
    assert "UpdateAccount" not in backends.auth.calls


def test_api_keys_create_list_use_revoke(client: FlaskClient, backends: FakeBackends) -> None:
    signed_in(client, backends)
    created = client.post("/v1/api-keys", json={"name": "laptop"}, headers=csrf(client))
    assert created.status_code == 201
    key, key_id = created.get_json()["key"], created.get_json()["api_key"]["id"]
    listed = client.get("/v1/api-keys").get_json()["api_keys"]
    assert [k["name"] for k in listed] == ["laptop"] and "key" not in listed[0]
    bearer = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/billing/balance", headers=bearer).status_code == 200
    assert client.delete(f"/v1/api-keys/{key_id}", headers=csrf(client)).status_code == 204
    _problem(client.get("/v1/billing/balance", headers=bearer), 401, "invalid_api_key")


def test_another_users_key_is_not_found(client: FlaskClient, backends: FakeBackends) -> None:
    other = backends.auth.add_user("eve@example.test")
    backends.auth.key_for(other)
    (other_key_id,) = [k.id for u, k in backends.auth.keys.values() if u == other]
    signed_in(client, backends)
    _problem(client.delete(f"/v1/api-keys/{other_key_id}", headers=csrf(client)), 404,
             "api_key_not_found")  # fmt: skip


# -- jobs ---------------------------------------------------------------------------------


def _submit(client: FlaskClient, key: str, **form: str) -> object:
    return client.post(
        "/v1/jobs",
        data={"file": (io.BytesIO(_png()), "banner.png"), "metadata": "false", **form},
        headers={"Authorization": f"Bearer {key}"},
    )


def test_a_job_reserves_credits_stores_the_upload_with_retentions_lifetime_and_is_created(
    app: Flask, client: FlaskClient, backends: FakeBackends
) -> None:
    backends.retention.image_ttl = timedelta(hours=2)
    key = backends.auth.key_for(backends.auth.add_user("ada@example.test"))
    reply = _submit(client, key, format="webp")
    assert reply.status_code == 202, reply.get_json()  # type: ignore[attr-defined]
    job = backends.processor.jobs[reply.get_json()["id"]]  # type: ignore[attr-defined]
    assert job.input_format == "png" and job.options.format == "webp"
    assert list(backends.billing.reserved) == [job.id]
    expires = from_timestamp(job.expires_at)
    assert expires is not None
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=1)
    assert app.extensions["blobs"].get(f"uploads/{job.id}") == _png()


def test_with_retention_down_uploads_get_the_policy_bound(
    client: FlaskClient, backends: FakeBackends
) -> None:
    backends.retention.down = True
    key = backends.auth.key_for(backends.auth.add_user("ada@example.test"))
    reply = _submit(client, key)
    assert reply.status_code == 202  # type: ignore[attr-defined]
    (job,) = backends.processor.jobs.values()
    expires = from_timestamp(job.expires_at)
    assert expires is not None
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)


def test_without_credits_nothing_is_stored(
    app: Flask, client: FlaskClient, backends: FakeBackends
) -> None:
    backends.billing.initial = 0
    key = backends.auth.key_for(backends.auth.add_user("ada@example.test"))
    _problem(_submit(client, key), 402, "insufficient_credits")
    assert not backends.processor.jobs and not list(app.extensions["blobs"].list("uploads/"))


def test_processor_down_releases_the_credits_and_deletes_the_upload(
    app: Flask, client: FlaskClient, backends: FakeBackends
) -> None:
    backends.processor.down = True
    key = backends.auth.key_for(backends.auth.add_user("ada@example.test"))
    _problem(_submit(client, key), 503, "service-unavailable")
    assert backends.billing.released and not backends.billing.reserved
    assert not list(app.extensions["blobs"].list("uploads/"))


def test_a_finished_job_downloads_with_its_format_and_is_marked(
    app: Flask, client: FlaskClient, backends: FakeBackends
) -> None:
    user = backends.auth.add_user("ada@example.test")
    key = backends.auth.key_for(user)
    job_id = _submit(client, key).get_json()["id"]  # type: ignore[attr-defined]
    deadline = datetime.now(UTC) + timedelta(hours=1)
    app.extensions["blobs"].put(f"results/{job_id}", b"RIFFxxxxWEBP", owner=user, deadline=deadline)
    backends.processor.finish(job_id, f"results/{job_id}", "jpeg")
    reply = client.get(f"/v1/jobs/{job_id}/result", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 200 and reply.data == b"RIFFxxxxWEBP"
    assert reply.mimetype == "image/jpeg"
    assert 'filename="banner.jpg"' in reply.headers["Content-Disposition"]
    assert backends.processor.downloaded == [job_id]


def test_another_users_job_is_not_found(client: FlaskClient, backends: FakeBackends) -> None:
    owner_key = backends.auth.key_for(backends.auth.add_user("ada@example.test"))
    job_id = _submit(client, owner_key).get_json()["id"]  # type: ignore[attr-defined]
    eve_key = backends.auth.key_for(backends.auth.add_user("eve@example.test"))
    eve = {"Authorization": f"Bearer {eve_key}"}
    _problem(client.get(f"/v1/jobs/{job_id}", headers=eve), 404, "job_not_found")
    _problem(client.delete(f"/v1/jobs/{job_id}", headers=eve), 404, "job_not_found")
    mine = {"Authorization": f"Bearer {owner_key}"}
    assert client.delete(f"/v1/jobs/{job_id}", headers=mine).status_code == 200
    assert backends.processor.jobs[job_id].status == "cancelled"


# -- billing ------------------------------------------------------------------------------


def test_balance_packs_and_checkout(client: FlaskClient, backends: FakeBackends) -> None:
    assert client.get("/v1/billing/packs").get_json()["packs"][0]["id"] == "pack_100"
    _problem(client.get("/v1/billing/balance"), 401, "unauthenticated")
    signed_in(client, backends)
    assert client.get("/v1/billing/balance").get_json()["available"] == 20
    reply = client.post("/v1/billing/checkout", json={"pack": "pack_100"}, headers=csrf(client))
    assert reply.status_code == 201, reply.get_json()
    assert reply.get_json()["checkout_url"] == "https://pay.test/x"
    unknown = client.post("/v1/billing/checkout", json={"pack": "nope"}, headers=csrf(client))
    _problem(unknown, 404, "unknown_pack")


# -- privacy ------------------------------------------------------------------------------


def test_the_policy_states_what_retention_and_vision_report(
    client: FlaskClient, backends: FakeBackends
) -> None:
    backends.retention.image_ttl = timedelta(hours=6)
    backends.vision.providers = (("anthropic", True), ("local", False))
    body = client.get("/v1/privacy").get_json()
    assert body["retention"]["image_ttl_s"] == 6 * 3600
    assert body["ai_providers"] == [
        {"name": "anthropic", "external": True},
        {"name": "local", "external": False},
    ]
    assert body["default_ai_provider"] == "anthropic"


def test_the_policy_is_a_503_when_vision_never_answered(
    client: FlaskClient, backends: FakeBackends
) -> None:
    backends.vision.down = True
    assert "vision" in str(
        _problem(client.get("/v1/privacy"), 503, "service-unavailable")["detail"]
    )


def test_the_privacy_page_shows_retentions_durations_and_says_when_it_cannot(
    client: FlaskClient, backends: FakeBackends
) -> None:
    backends.retention.image_ttl = timedelta(hours=6)
    html = client.get("/app/privacy").get_data(as_text=True)
    assert "at most 6 hours" in html and "90 days" in html and "local" in html
    backends.retention.down = True
    # The app remembers retention's last answer and keeps stating it while retention is down.
    assert "at most 6 hours" in client.get("/app/privacy").get_data(as_text=True)


def test_the_privacy_page_without_any_answer_is_a_503_with_a_notice(
    client: FlaskClient, backends: FakeBackends
) -> None:
    backends.retention.down = True
    reply = client.get("/app/privacy")
    assert reply.status_code == 503
    html = reply.get_data(as_text=True)
    assert 'id="retention-unavailable"' in html and "24 hours" not in html


def test_deleting_the_account_records_the_request_and_disables_at_once(
    client: FlaskClient, backends: FakeBackends
) -> None:
    user_id = signed_in(client, backends)
    reply = client.delete("/v1/account", headers=csrf(client))
    assert reply.status_code == 202 and reply.get_json()["kind"] == "erasure"
    assert backends.auth.accounts[user_id].disabled
    _problem(client.get("/v1/account"), 401, "invalid_session")


def test_export_request_then_pending(client: FlaskClient, backends: FakeBackends) -> None:
    signed_in(client, backends)
    export_id = client.post("/v1/account/export", headers=csrf(client)).get_json()["id"]
    assert client.get(f"/v1/account/export/{export_id}").status_code == 202
    _problem(client.get("/v1/account/export/other"), 404, "export_not_found")


def test_sessions_open_and_close(client: FlaskClient, backends: FakeBackends) -> None:
    signed_in(client, backends)
    opened = client.post("/v1/sessions", json={"ttl_seconds": 600}, headers=csrf(client))
    assert opened.status_code == 201
    session_id = opened.get_json()["id"]
    closed = client.delete(f"/v1/sessions/{session_id}", headers=csrf(client))
    assert closed.get_json()["status"] == "closed"
