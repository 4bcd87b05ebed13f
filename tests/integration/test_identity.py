"""Identity and the public API through the real services: accounts, sessions, keys, limits."""

from __future__ import annotations

import select
import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import psycopg
import pytest
import requests

from picopt.client import ApiError, Client
from picopt.demo import mailed_token
from picopt.devstack import Stack
from tests.integration.conftest import mail_dir, new_user, wait_for
from tests.integration.harness import running_stack
from tests.integration.images import graphic_png

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
UPLOAD_LIMIT = 1_000_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "RATE_LIMIT_PREFIX": f"it-{uuid.uuid4().hex[:8]}",
        "RATE_LIMIT_DEFAULT": "120/minute",
        "RATE_LIMIT_AUTH": "1000/minute",
        "LOGIN_FREE_FAILURES_ADDRESS": "1000",
        "LOGIN_DELAY_BASE_S": "60",
        "MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
    }
    with running_stack(tmp_path_factory.mktemp("identity"), extra_env=env) as running:
        yield running


def signed_up(stack: Stack) -> tuple[Client, str]:
    client = Client(stack.gateway_url())
    email = f"id-{uuid.uuid4().hex[:10]}@example.test"
    client.signup("Ada", email, PASSWORD)
    client.confirm(mailed_token(mail_dir(stack), email))
    return client, email


def auth_rows(stack: Stack) -> str:
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    dump = []
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'auth'"
        ).fetchall()
        for (table,) in tables:
            for row in conn.execute(f'SELECT * FROM auth."{table}"').fetchall():
                dump.append(" ".join(str(v) for v in row))
    return "\n".join(dump)


def test_signup_answers_the_same_for_a_taken_email_and_confirms_by_mail(stack: Stack) -> None:
    client, email = signed_up(stack)
    again = requests.post(
        stack.gateway_url() + "/v1/auth/signup",
        json={"name": "Mallory", "email": email, "password": "another long passphrase"},
        timeout=10,
    )
    fresh = requests.post(
        stack.gateway_url() + "/v1/auth/signup",
        json={
            "name": "Eve",
            "email": f"x-{uuid.uuid4().hex[:8]}@example.test",
            "password": "another long passphrase",
        },
        timeout=10,
    )
    assert again.status_code == fresh.status_code == 202
    assert again.json() == fresh.json()
    with pytest.raises(ApiError) as common:
        client.signup("Bob", "bob@example.test", "password1234")
    assert common.value.code == "common_password"
    with pytest.raises(ApiError) as bad_token:
        client.confirm("not-a-token")
    assert bad_token.value.status == 400 and bad_token.value.code == "invalid_token"


def test_session_cookie_flags_csrf_and_logout_everywhere(stack: Stack) -> None:
    client, email = signed_up(stack)
    reply = requests.post(
        stack.gateway_url() + "/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        timeout=10,
    )
    cookies = reply.headers["Set-Cookie"]
    session = next(c for c in reply.raw.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Path=/" in session
    assert "csrf_token=" in cookies
    browser = requests.Session()
    browser.cookies.update(reply.cookies)
    # Cookie-authenticated unsafe request without the CSRF header: refused.
    refused = browser.post(stack.gateway_url() + "/v1/api-keys", json={"name": "x"}, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/csrf-failed"
    ok = browser.post(
        stack.gateway_url() + "/v1/api-keys",
        json={"name": "x"},
        headers={"X-CSRF-Token": reply.cookies["csrf_token"]},
        timeout=10,
    )
    assert ok.status_code == 201
    # API-key requests need no CSRF token.
    api = Client(stack.gateway_url(), api_key=ok.json()["key"])
    api.create_api_key("from-key")
    client.login(email, PASSWORD)
    client.logout_everywhere()
    assert browser.get(stack.gateway_url() + "/v1/account", timeout=10).status_code == 401
    with pytest.raises(ApiError) as ended:
        client.account()
    assert ended.value.status == 401
    assert api.account()["email"] == email  # keys survive a logout


def test_login_rotates_the_session(stack: Stack) -> None:
    client, email = signed_up(stack)
    client.login(email, PASSWORD)
    old = client.http.cookies["session"]
    client.login(email, PASSWORD)
    assert client.http.cookies["session"] != old
    stale = requests.get(stack.gateway_url() + "/v1/account", cookies={"session": old}, timeout=10)
    assert stale.status_code == 401


def test_brute_force_is_throttled_even_with_the_right_password(stack: Stack) -> None:
    client, email = signed_up(stack)
    for _ in range(6):
        with pytest.raises(ApiError) as wrong:
            client.login(email, "not the password at all")
        assert wrong.value.status == 401
    reply = requests.post(
        stack.gateway_url() + "/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        timeout=10,
    )
    assert reply.status_code == 429
    assert reply.json()["type"] == "/problems/login-throttled"
    assert 0 < int(reply.headers["Retry-After"]) <= 60
    # An unknown address gets exactly the same treatment.
    ghost = f"ghost-{uuid.uuid4().hex[:8]}@example.test"
    statuses = []
    for _ in range(7):
        try:
            client.login(ghost, "not the password at all")
        except ApiError as err:
            statuses.append(err.status)
    assert statuses == [401] * 6 + [429]


def test_password_reset_change_and_email_change(stack: Stack) -> None:
    client, email = signed_up(stack)
    client.login(email, PASSWORD)
    other, _ = signed_up(stack)
    other.request_password_reset(f"nobody-{uuid.uuid4().hex[:6]}@example.test")  # 202, no mail
    asked = time.time_ns()
    client.request_password_reset(email)
    token = mailed_token(mail_dir(stack), email, since_ns=asked)
    client.reset_password(token, "a completely new passphrase")
    with pytest.raises(ApiError):
        client.account()  # the reset ended every session
    with pytest.raises(ApiError) as reused:
        client.reset_password(token, "yet another passphrase 2")
    assert reused.value.code == "invalid_token"
    client.login(email, "a completely new passphrase")
    client.change_password("a completely new passphrase", "the third passphrase here")
    assert client.account()["email"] == email  # this session was renewed
    new_email = f"moved-{uuid.uuid4().hex[:8]}@example.test"
    with pytest.raises(ApiError) as needs_password:
        client.update_account(email=new_email)
    assert needs_password.value.status == 401
    asked = time.time_ns()
    pending = client.update_account(
        name="Ada L.", email=new_email, current_password="the third passphrase here"
    )
    assert pending["name"] == "Ada L." and pending["email"] == email and pending["pending_email"]
    client.confirm(mailed_token(mail_dir(stack), new_email, since_ns=asked))
    assert client.account()["email"] == new_email


def test_another_users_things_answer_404(stack: Stack) -> None:
    """Every /v1 route that takes an id or returns user data, called by the wrong user.

    Routes taking an id answer 404 (never 403) with nothing of the owner's in the body;
    listing routes answer the caller's own data only. Sign-in methods (identities) are
    covered where a provider runs: test_identity_secure.py. Purchases need Stripe:
    tests/browser/test_web_app.py.
    """
    alice, bob = new_user(stack), new_user(stack)
    job = alice.submit(graphic_png(), metadata=False)
    done = alice.wait(job["id"], timeout=60, interval=1.0)
    assert done["status"] == "done"
    alice_key = alice.api_keys()[0]
    export_id = alice.request_export()["id"]
    alice_email = alice.account()["email"]
    owned = [
        ("GET", f"/v1/jobs/{job['id']}"),
        ("GET", f"/v1/jobs/{job['id']}/result"),
        ("DELETE", f"/v1/jobs/{job['id']}"),
        ("DELETE", f"/v1/api-keys/{alice_key['id']}"),
        ("GET", f"/v1/account/export/{export_id}"),
        ("GET", f"/v1/account/exports/{export_id}"),
        ("DELETE", f"/v1/account/identities/{alice_key['id']}"),
    ]
    for method, path in owned:
        reply = bob.http.request(method, stack.gateway_url() + path, timeout=30)
        assert reply.status_code == 404, (method, path, reply.status_code)
        assert reply.headers["Content-Type"] == "application/problem+json"
        secrets = {job["id"], alice_key["id"], alice_key["prefix"], export_id, alice_email}
        for secret in secrets:
            assert secret in path or secret not in reply.text, (method, path, secret)

    listed = [
        "/v1/account",
        "/v1/jobs",
        "/v1/api-keys",
        "/v1/account/api-calls",
        "/v1/account/identities",
        "/v1/account/exports",
        "/v1/billing/balance",
        "/v1/billing/purchases",
        "/v1/usage",
        "/v1/usage?group=day",
    ]
    for path in listed:
        reply = bob.http.get(stack.gateway_url() + path, timeout=30)
        assert reply.status_code == 200, (path, reply.text)
        for secret in (job["id"], alice_key["id"], alice_key["prefix"], export_id, alice_email):
            assert secret not in reply.text, (path, secret)
    wait_for(  # the usage bob did not see is there for alice
        lambda: job["id"] in {u.get("job_id") for u in alice.usage()["items"]}, what="usage"
    )
    assert alice.job(job["id"])["status"] == "done"  # nothing bob did touched it
    assert len(alice.download(job["id"])) > 0
    assert alice_key["id"] in {k["id"] for k in alice.api_keys()}


def test_batch_submission_sniffs_types_and_rejects_a_bad_file_whole(stack: Stack) -> None:
    user = new_user(stack)
    before = user.balance()["available"]
    with pytest.raises(ApiError) as bad:
        user.submit_batch([("a.png", graphic_png()), ("b.jpg", b"this is no image")])
    assert bad.value.status == 415 and bad.value.problem["index"] == 1
    assert user.balance()["available"] == before
    assert user.jobs()["jobs"] == []
    jobs = user.submit_batch(
        [("fake.jpg", graphic_png()), ("b.png", graphic_png())], metadata=False
    )
    assert [j["input"]["format"] for j in jobs] == ["png", "png"]


def test_upload_over_the_limit_is_refused_before_the_body_is_sent(stack: Stack) -> None:
    user = new_user(stack)
    key = user.http.headers["Authorization"]
    url = urlparse(stack.gateway_url())
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            (
                "POST /v1/jobs HTTP/1.1\r\n"
                f"Host: {url.hostname}\r\nAuthorization: {key}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {UPLOAD_LIMIT * 10}\r\n\r\n"
            ).encode()
            + b"--x\r\n"
        )
        head = sock.recv(4096).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413")
    assert "application/problem+json" in head


def test_chunked_upload_over_the_limit_is_refused_while_streaming(stack: Stack) -> None:
    """No Content-Length: the gateway counts while reading and answers 413 mid-body.

    The body never ends (no last chunk), so an answer at all proves the gateway
    did not wait to read the whole upload.
    """
    user = new_user(stack)
    key = user.http.headers["Authorization"]
    url = urlparse(stack.gateway_url())
    chunk = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
    chunk += b"\0" * (64 * 1024 - len(chunk))
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    head = ""
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            (
                "POST /v1/jobs HTTP/1.1\r\n"
                f"Host: {url.hostname}\r\nAuthorization: {key}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        sent = 0
        while sent < UPLOAD_LIMIT * 10 and not head:
            try:
                sock.sendall(framed)
            except OSError:  # the gateway stopped reading and closed: its answer is waiting
                break
            sent += len(chunk)
            if select.select([sock], [], [], 0)[0]:
                head = sock.recv(4096).decode(errors="replace")
        head = head or sock.recv(4096).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413"), head[:200]
    assert "application/problem+json" in head
    assert sent < UPLOAD_LIMIT * 10


def test_rate_limit_answers_429_with_headers(stack: Stack) -> None:
    user = new_user(stack)
    url = stack.gateway_url() + "/v1/account"
    for _ in range(200):
        reply = user.http.get(url, timeout=10)
        if reply.status_code == 429:
            break
        assert reply.status_code == 200
        assert "RateLimit-Remaining" in reply.headers
    assert reply.status_code == 429
    assert int(reply.headers["Retry-After"]) > 0
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.json()["type"] == "/problems/rate-limited"


def test_auth_database_holds_no_key_or_session_in_clear(stack: Stack) -> None:
    client, email = signed_up(stack)
    client.login(email, PASSWORD)
    session = client.http.cookies["session"]
    keys = [client.create_api_key(f"k{i}") for i in range(3)]
    dump = auth_rows(stack)
    # po_live_<prefix>_<secret>: the secret itself may contain "_".
    for secret in [session, *keys, *(k.split("_", 3)[3] for k in keys)]:
        assert secret not in dump
    assert PASSWORD not in dump


def test_call_log_records_route_templates_not_paths(stack: Stack) -> None:
    user = new_user(stack)
    with pytest.raises(ApiError):
        user.job(str(uuid.uuid4()))
    calls = wait_for(
        lambda: [c for c in user.api_calls() if c["route"] == "/v1/jobs/<job_id>"],
        what="call log",
    )
    assert calls[0]["status"] == 404 and calls[0]["method"] == "GET"
