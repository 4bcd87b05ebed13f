"""Privacy promises against the running services: erasure, export, policy, log purge, key rotation.

One stack with short timers (request checks every second, overdue after 3 s)
but the policy's retention durations.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
import requests

from picopt.client import ApiError, Client
from picopt.demo import mailed_token
from picopt.devstack import Stack
from picopt.kernel.blobstore import EnvelopeCipher, FilesystemBlobStore
from picopt.kernel.settings import Settings
from picopt.retention.v1 import retention_pb2, retention_pb2_grpc
from tests.integration.conftest import blob_dir, mail_dir, retention_cli, wait_for
from tests.integration.harness import LOCALSTRIPE_KEY, running_localstripe, running_stack
from tests.integration.images import graphic_png

pytestmark = pytest.mark.integration

STAFF_TOKEN = secrets.token_urlsafe(24)
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_localstripe(tmp_path_factory.mktemp("localstripe")) as url:
        yield url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, localstripe: str) -> Iterator[Stack]:
    env = {
        "STRIPE_API_KEY": LOCALSTRIPE_KEY,
        "STRIPE_API_BASE": localstripe,
        "BILLING_PURCHASE_MODE": "payment_intent",
        "RETENTION_STAFF_TOKEN": STAFF_TOKEN,
        "RETENTION_REQUEST_CHECK_INTERVAL": "1",
        "RETENTION_ERASURE_RETRY": "5",
        "RETENTION_OVERDUE_AFTER": "3",
        "RETENTION_EXPORT_INTERVAL": "1",
        "RETENTION_NOTIFY_INTERVAL": "1",
        "RETENTION_NOTIFY_BATCH": "2",
    }
    with running_stack(tmp_path_factory.mktemp("privacy"), extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
def staff(stack: Stack) -> Iterator[Any]:
    with grpc.insecure_channel(stack.grpc_address("retention")) as channel:
        yield retention_pb2_grpc.RetentionServiceStub(channel)


MD = (("authorization", f"Bearer {STAFF_TOKEN}"),)


def named_user(stack: Stack, name: str, email: str) -> Client:
    client = Client(stack.gateway_url())
    client.signup(name, email, PASSWORD)
    client.confirm(mailed_token(mail_dir(stack), email))
    client.login(email, PASSWORD)
    api = Client(stack.gateway_url(), api_key=client.create_api_key("privacy"))
    wait_for(lambda: api.balance()["available"] > 0, what="trial credits")
    return api


def unique_person() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"Zelda Quuxington{tag}", f"zelda.{tag}@example.test"


def call(client: Client, method: str, path: str, **kwargs: Any) -> requests.Response:
    return client.http.request(method, client.base_url + path, timeout=30, **kwargs)


def owned_blobs(stack: Stack, user_id: str) -> list[str]:
    keys = Settings.load("retention", stack.env).master_keys()
    store = FilesystemBlobStore(blob_dir(stack), EnvelopeCipher(keys))
    return [info.key for info in store.list() if info.owner == user_id]


def scan_every_schema(stack: Stack, needles: list[str]) -> list[str]:
    """Every text, JSON and binary column of every schema that contains one of the needles."""
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    hits = []
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type"
            " FROM information_schema.columns JOIN information_schema.tables"
            " USING (table_schema, table_name)"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND data_type IN ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb')"
        ).fetchall()
        assert len(columns) > 20, "the scan must see every service's tables"
        schemas = {c[0] for c in columns}
        assert {"auth", "billing", "processor", "retention"} <= schemas
        for schema, table, column, kind in columns:
            ref = f'"{schema}"."{table}"."{column}"'
            source = f'SELECT count(*) FROM "{schema}"."{table}"'
            for needle in needles:
                if kind == "bytea":
                    query = f'{source} WHERE position(%s::bytea in "{column}") > 0'
                    params: tuple[Any, ...] = (needle.encode(),)
                else:
                    query = (
                        f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{column}"::text ILIKE %s'
                    )
                    params = (f"%{needle}%",)
                if conn.execute(query, params).fetchone()[0]:  # type: ignore[index]
                    hits.append(f"{ref} contains {needle!r}")
    return hits


def row_versions_naming(stack: Stack, needles: list[str]) -> list[str]:
    """Tables with a row version, live or dead (not yet vacuumed), that holds a needle.

    Reads every heap page of every table in the service schemas (pageinspect): a deleted
    or updated row stays in its page as a dead version until VACUUM removes it.
    """
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    hits = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect SCHEMA public")
        tables = conn.execute(
            "SELECT c.oid::regclass::text,"
            " pg_relation_size(c.oid) / current_setting('block_size')::int"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname IN ('auth', 'billing', 'processor', 'retention')"
        ).fetchall()
        for table, blocks in tables:
            for block in range(blocks):
                holding = _page_holding(conn, table, block, needles)
                if holding is None:
                    break  # VACUUM truncated the table meanwhile: no later page exists
                hits += [f"{table} block {block} holds {needle!r}" for needle in holding]
    return hits


def _page_holding(
    conn: psycopg.Connection, table: str, block: int, needles: list[str]
) -> list[str] | None:
    """The needles one heap page holds; None when the page no longer exists (the table was
    truncated by VACUUM after its size was read: "block number N is out of range")."""
    holding = []
    for needle in needles:
        try:
            found = conn.execute(
                "SELECT count(*) FROM public.heap_page_items(public.get_raw_page(%s, %s))"
                " WHERE position(%s::bytea in t_data) > 0",
                (table, block, needle.encode()),
            ).fetchone()
        except psycopg.errors.InvalidParameterValue:
            return None
        if found and found[0]:
            holding.append(needle)
    return holding


def mail_files_naming(stack: Stack, *needles: str) -> list[str]:
    """Mail files (MAIL_TRANSPORT=file) that contain one of the needles."""
    return [
        f.name
        for f in mail_dir(stack).glob("*.eml")
        if any(n.encode() in f.read_bytes() for n in needles)
    ]


def test_erasure_with_a_service_down_completes_after_it_returns_and_no_database_names_the_user(
    stack: Stack, staff: Any
) -> None:
    name, email = unique_person()
    user = named_user(stack, name, email)
    user_id = user.account()["id"]
    job = user.submit(graphic_png(), filename=f"{name}.png", metadata=False)
    assert user.wait(job["id"])["status"] == "done"
    assert scan_every_schema(stack, [email, name]), "the scan must find the user before erasure"
    assert mail_files_naming(stack, email), "the confirmation mail names the user"
    assert row_versions_naming(stack, [email, name]), "the heap pages name the user"

    stack.kill("processor")
    try:
        reply = call(user, "DELETE", "/v1/account", json={"password": PASSWORD})
        assert reply.status_code == 202, reply.text
        request = reply.json()
        assert request["kind"] == "erasure" and request["status"] == "open"

        # Disabled at once, before the answer: the API key no longer works.
        assert call(user, "GET", "/v1/account").status_code == 401

        def waiting_only_for_processor() -> Any:
            r = staff.GetRequest(retention_pb2.GetRequestRequest(id=request["id"]), metadata=MD)
            return r if list(r.request.pending_services) == ["processor"] else None

        pending = wait_for(waiting_only_for_processor, what="every service but processor")
        assert pending.request.status == "open"
        # Flagged well before the 30-day deadline (RETENTION_OVERDUE_AFTER=3 s here).
        flagged = wait_for(
            lambda: staff.GetReport(retention_pb2.GetReportRequest(), metadata=MD).overdue_requests,
            what="overdue flag",
        )
        assert request["id"] in [r.id for r in flagged]
        wait_for(lambda: not owned_blobs(stack, user_id), what="the user's images deleted")
    finally:
        stack.restart("processor")

    def completed() -> Any:
        r = staff.GetRequest(retention_pb2.GetRequestRequest(id=request["id"]), metadata=MD)
        return r if r.request.status == "completed" else None

    done = wait_for(completed, timeout=60, what="erasure completed after processor returned")
    confirmed = {a.service for a in done.audit if a.action == "erased"}
    assert confirmed == {"auth", "billing", "processor", "retention"}
    assert "completed" in [a.action for a in done.audit]
    assert scan_every_schema(stack, [email, name]) == []
    assert mail_files_naming(stack, email, name) == []
    # The tables the erasure wrote to are vacuumed: no dead row version names the person.
    wait_for(lambda: not row_versions_naming(stack, [email, name]), what="erased rows vacuumed")
    with pytest.raises(ApiError) as err:
        Client(stack.gateway_url()).login(email, PASSWORD)
    assert err.value.status == 401


def test_export_archive_holds_every_service_part_without_secrets(stack: Stack) -> None:
    name, email = unique_person()
    user = named_user(stack, name, email)
    job = user.submit(graphic_png(), filename="banner.png", metadata=False)
    assert user.wait(job["id"])["status"] == "done"
    api_key = user.http.headers["Authorization"].split(" ", 1)[1]

    reply = call(user, "POST", "/v1/account/export")
    assert reply.status_code == 202, reply.text
    export_id = reply.json()["id"]
    download = wait_for(
        lambda: (
            (r := call(user, "GET", f"/v1/account/export/{export_id}")).status_code == 200 and r
        ),
        what="export archive",
    )
    assert download.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as z:
        names = set(z.namelist())
        files = {n: json.loads(z.read(n)) for n in names}
        raw = b"".join(z.read(n) for n in names)
    assert {
        "manifest.json",
        "auth/profile.json",
        "auth/sign_in_methods.json",
        "auth/api_keys.json",
        "auth/api_calls.json",
        "processor/jobs.json",
        "billing/ledger.json",
        "billing/purchases.json",
        "billing/usage.json",
        "retention/requests.json",
    } <= names
    assert files["auth/profile.json"]["email"] == email
    assert files["auth/profile.json"]["name"] == name
    assert files["auth/profile.json"]["has_password"] is True
    assert files["auth/sign_in_methods.json"] == []
    assert [k["name"] for k in files["auth/api_keys.json"]] == ["privacy"]
    assert [j["id"] for j in files["processor/jobs.json"]] == [job["id"]]
    assert any(e["kind"] == "grant" for e in files["billing/ledger.json"])
    assert [r["kind"] for r in files["retention/requests.json"]] == ["export"]
    assert files["manifest.json"]["expires_at"]
    assert api_key.encode() not in raw and PASSWORD.encode() not in raw
    assert b"argon2" not in raw and b"key_hash" not in raw and b"token_hash" not in raw

    other = named_user(stack, *unique_person())
    assert call(other, "GET", f"/v1/account/export/{export_id}").status_code == 404


def test_policy_is_served_and_a_material_change_mails_each_user_once(
    stack: Stack, staff: Any, tmp_path: Path
) -> None:
    current = requests.get(stack.gateway_url() + "/v1/privacy", timeout=10).json()
    assert current["version"] and current["effective_date"] and current["upcoming"] == []
    assert "24 hours" in current["text"]
    assert current["ai_providers"] == [{"name": "local", "external": False}]
    users = [named_user(stack, *unique_person()) for _ in range(3)]

    version = f"2.{uuid.uuid4().hex[:6]}"
    policy = tmp_path / "policy.md"
    policy.write_text(
        f"---\nversion: {version}\ndate: 2031-01-01\nmaterial: true\n---\nNew terms.\n"
    )
    out = retention_cli(stack, "publish-policy", str(policy))
    assert out.returncode == 0, out.stderr
    # Announced, not in force: the version in force is served until the new one's date.
    served = requests.get(stack.gateway_url() + "/v1/privacy", timeout=10).json()
    assert served["version"] == current["version"]
    assert [(u["version"], u["effective_date"]) for u in served["upcoming"]] == [
        (version, "2031-01-01")
    ]
    assert [v["version"] for v in served["versions"]] == [current["version"], version]
    for v, text in ((version, "New terms."), (current["version"], "24 hours")):
        page = requests.get(f"{stack.gateway_url()}/v1/privacy/policies/{v}", timeout=10)
        assert page.status_code == 200 and text in page.json()["text"]
    missing = requests.get(f"{stack.gateway_url()}/v1/privacy/policies/no-such", timeout=10)
    assert missing.status_code == 404
    web = requests.get(f"{stack.gateway_url()}/app/privacy?version={version}", timeout=10)
    assert web.status_code == 200 and 'id="policy-versions"' in web.text

    def fan_out_done() -> Any:
        listed = staff.ListPolicies(retention_pb2.ListPoliciesRequest(), metadata=MD).policies
        return next((p for p in listed if p.version == version and p.notification_done), None)

    done = wait_for(fan_out_done, timeout=60, what="policy mail fan-out")
    mailed = [f for f in mail_dir(stack).glob("*.eml") if f"version {version}" in f.read_text()]
    recipients = [
        line.split(":", 1)[1].strip()
        for f in mailed
        for line in f.read_text().splitlines()
        if line.startswith("To:")
    ]
    assert len(recipients) == len(set(recipients)) == done.notified
    for u in users:
        assert u.account()["email"] in recipients

    too_soon = tmp_path / "soon.md"
    soon = (datetime.now(UTC) + timedelta(days=29)).date().isoformat()
    too_soon.write_text(f"---\nversion: 3.0\ndate: {soon}\nmaterial: true\n---\nSoon.\n")
    out = retention_cli(stack, "publish-policy", str(too_soon))
    assert out.returncode == 1 and "at least 30 days" in out.stderr, out.stderr

    bad = tmp_path / "bad.md"
    bad.write_text("no front matter\n")
    out = retention_cli(stack, "publish-policy", str(bad))
    assert out.returncode == 2 and "front matter" in out.stderr


def test_log_purge_reaches_every_service_and_reports_counts(stack: Stack, staff: Any) -> None:
    user = named_user(stack, *unique_person())
    job = user.submit(graphic_png(), filename="old.png", metadata=False)
    assert user.wait(job["id"])["status"] == "done"
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:  # the clock moves: this job ended 91 days ago
        conn.execute(
            "UPDATE processor.jobs SET updated_at = now() - interval '91 days' WHERE id = %s",
            (job["id"],),
        )
    staff.PurgeLogs(retention_pb2.PurgeLogsRequest(), metadata=MD)

    def reported() -> Any:
        purges = staff.GetReport(retention_pb2.GetReportRequest(), metadata=MD).log_purges
        return (
            purges
            if {"auth", "billing", "processor", "retention"} <= {p.service for p in purges}
            else None
        )

    purges = wait_for(reported, what="logs.purged from every service")
    assert any(p.service == "processor" and p.table == "jobs" and p.count >= 1 for p in purges)
    tables = {(p.service, p.table) for p in purges}
    assert {("retention", "deletion_log"), ("retention", "policy_notices")} <= tables
    with pytest.raises(ApiError) as err:
        user.job(job["id"])
    assert err.value.status == 404


def test_staff_api_and_cli_refuse_calls_without_the_token(stack: Stack, staff: Any) -> None:
    with pytest.raises(grpc.RpcError) as err:
        staff.GetReport(retention_pb2.GetReportRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    out = retention_cli(stack, "report", token="wrong")
    assert out.returncode == 1 and "UNAUTHENTICATED" in out.stderr
    out = retention_cli(stack, "requests", token=STAFF_TOKEN)
    assert out.returncode == 0 and "deadline" in out.stdout


def test_master_key_rotation_without_downtime(stack: Stack, staff: Any) -> None:
    user = named_user(stack, *unique_person())
    before = user.submit(graphic_png(), filename="before.png", metadata=False)
    assert user.wait(before["id"])["status"] == "done"
    old_key = stack.env["MASTER_KEY"]
    new_key = base64.b64encode(secrets.token_bytes(32)).decode()
    stack.env.update(MASTER_KEY=new_key, MASTER_KEYS_OLD=old_key)
    # Rolling restart: each process at a time, the others keep serving.
    for name in ("retention", "worker.1", "worker.2", "gateway"):
        stack.restart(name)
        stack.wait_healthy(timeout=60)
    during = user.submit(graphic_png(), filename="during.png", metadata=False)
    assert user.wait(during["id"])["status"] == "done"

    rotated = staff.RotateKeys(retention_pb2.RotateKeysRequest(), metadata=MD, timeout=120)
    assert rotated.failed == 0 and rotated.rewrapped >= 1
    assert [k.key_id for k in rotated.keys] == [rotated.current_key_id]

    stack.env.pop("MASTER_KEYS_OLD")
    for name in ("retention", "worker.1", "worker.2", "gateway"):
        stack.restart(name)
        stack.wait_healthy(timeout=60)
    assert user.download(before["id"]) and user.download(during["id"])


def test_the_restore_runbook_lists_the_erasures_a_restore_would_forget(stack: Stack) -> None:
    """README "Backups and restore": before switching to a database restored to time T, the
    erasures asked for since T are read from retention's live record with the staff command
    and deploy/k8s/restore/erasures-since.sh, to be asked for again."""
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    name, email = unique_person()
    user = named_user(stack, name, email)
    user_id = user.account()["id"]
    assert call(user, "DELETE", "/v1/account", json={"password": PASSWORD}).status_code == 202
    env = {
        **stack.env,
        "RETENTION_ADDR": stack.grpc_address("retention"),
        "RETENTION_STAFF_TOKEN": STAFF_TOKEN,
    }
    record = subprocess.run(
        [sys.executable, "-m", "services.retention.cli", "--json", "requests"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    script = Path(__file__).resolve().parents[2] / "deploy/k8s/restore/erasures-since.sh"

    def erasures_since(moment: datetime) -> list[str]:
        since = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        out = subprocess.run(
            [str(script), since], input=record, capture_output=True, text=True, check=True
        )
        return out.stdout.split()

    assert user_id in erasures_since(before)
    assert user_id not in erasures_since(datetime.now(UTC) + timedelta(minutes=1))


# Columns that tie a row to a person: a table with one must hold a row of the test user
# below (or be listed in the README as not exported), so a new table naming users fails
# the export test until it is exported or excluded.
PERSON_COLUMNS = {"user_id", "owner_id", "email", "pending_email"}
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_exclusions() -> dict[str, str]:
    """The README's table of tables that name users but are not exported, with the reason."""
    lines = README.read_text().splitlines()
    start = lines.index("### Not in the export")
    found = {}
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 2 and cells[1]:
            found[cells[0].strip("`")] = cells[1]
    return found


def excluded(table: str, exclusions: dict[str, str]) -> bool:
    return table in exclusions or f"*.{table.split('.')[1]}" in exclusions


def rows_naming(stack: Stack, needles: list[str]) -> tuple[dict[str, int], set[str]]:
    """Per table of every service schema, the rows in which any column holds a needle; and
    every table that has a column tying rows to a person (walked from the catalog)."""
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type"
            " FROM information_schema.columns JOIN information_schema.tables"
            " USING (table_schema, table_name)"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema IN ('auth', 'billing', 'processor', 'retention', 'vision',"
            " 'gateway')"
        ).fetchall()
        by_table: dict[str, list[tuple[str, str]]] = {}
        for schema, table, column, kind in columns:
            by_table.setdefault(f"{schema}.{table}", []).append((column, kind))
        personal = {t for t, cols in by_table.items() if any(c in PERSON_COLUMNS for c, _ in cols)}
        hits = {}
        for table, cols in by_table.items():
            conditions, params = [], []
            for column, kind in cols:
                for needle in needles:
                    if kind == "bytea":
                        conditions.append(f'position(%s::bytea in "{column}") > 0')
                        params.append(needle.encode())
                    elif kind in ("text", "character varying", "character", "json", "jsonb"):
                        conditions.append(f'"{column}"::text ILIKE %s')
                        params.append(f"%{needle}%")
            if not conditions:
                continue
            schema, name = table.split(".")
            query = f'SELECT count(*) FROM "{schema}"."{name}" WHERE ' + " OR ".join(conditions)
            count = conn.execute(query, params).fetchone()[0]  # type: ignore[index]
            if count:
                hits[table] = count
    return hits, personal


def test_the_export_holds_every_row_that_names_the_user(
    stack: Stack, staff: Any, tmp_path: Path
) -> None:
    name, email = unique_person()
    user = named_user(stack, name, email)
    user_id = user.account()["id"]
    # A row in every table that can name a person: sessions, keys, tokens, calls (above),
    # a job with its preview, a processing session, a Stripe customer and purchase, ...
    session = user._call("POST", "/v1/sessions", json={}).json()
    job = user.submit(
        graphic_png(),
        filename="mine.png",
        placeholder=True,
        metadata=False,
        session_id=session["id"],
    )
    assert user.wait(job["id"])["status"] == "done"
    intent = user.checkout("pack_100")["payment_intent_id"]
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        # A provider sign-in (the flow itself is tested in test_identity_secure.py), and a
        # call log longer than any page (every call of the 90-day window is exported).
        conn.execute(
            "INSERT INTO auth.oauth_identities (id, user_id, provider, subject, created_at)"
            " VALUES (%s, %s, 'corp', 'subject-of-zelda', now())",
            (str(uuid.uuid4()), user_id),
        )
        conn.execute(
            "INSERT INTO auth.api_calls (user_id, key_id, method, route, status, duration_ms, at)"
            " SELECT %s, NULL, 'GET', '/v1/jobs', 200, 3, now() - i * interval '1 hour'"
            " FROM generate_series(1, 1200) AS i",
            (user_id,),
        )
    # A material policy change mailed to the user (a policy notice).
    version = f"9.{uuid.uuid4().hex[:6]}"
    staff.PublishPolicy(
        retention_pb2.PublishPolicyRequest(
            version=version, effective_date="2031-01-01", material=True, text="Terms.\n"
        ),
        metadata=MD,
    )
    wait_for(
        lambda: any(
            p.version == version and p.notification_done
            for p in staff.ListPolicies(retention_pb2.ListPoliciesRequest(), metadata=MD).policies
        ),
        timeout=60,
        what="policy notices",
    )
    time.sleep(3)  # the gateway's call log reaches auth within a second or two

    # Staff open the export, so no API call of the user's lands after the snapshot.
    request = staff.OpenRequest(
        retention_pb2.OpenRequestRequest(user_id=user_id, kind="export"), metadata=MD
    ).request
    wait_for(
        lambda: (
            staff.GetRequest(
                retention_pb2.GetRequestRequest(id=request.id), metadata=MD
            ).request.status
            == "completed"
        ),
        timeout=60,
        what="export built",
    )
    keys = Settings.load("retention", stack.env).master_keys()
    archive = FilesystemBlobStore(blob_dir(stack), EnvelopeCipher(keys)).get(
        f"exports/{request.id}.zip"
    )
    hits, personal = rows_naming(stack, [user_id, email, name])

    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        files = {n: json.loads(z.read(n)) for n in z.namelist()}
    manifest = files["manifest.json"]
    exported = manifest["rows_per_table"]
    exclusions = readme_exclusions()
    assert set(exclusions) == set(manifest["not_exported"]), "README and manifest agree"
    # Every table that can name a person holds a row of this user: the test covers them all.
    uncovered = sorted(t for t in personal if t not in hits and not excluded(t, exclusions))
    assert uncovered == [], f"give the test user a row in {uncovered} (or exclude it)"
    # Every row naming the user is in the export, or its table is excluded with a reason.
    missing = {
        t: (n, exported.get(t, 0))
        for t, n in hits.items()
        if not excluded(t, exclusions) and exported.get(t, 0) != n
    }
    assert missing == {}, "rows naming the user (in the database, in the export)"
    assert exported["auth.api_calls"] > 1200

    # The items an export used to miss, by value.
    raw = json.dumps(files)
    assert [t["purpose"] for t in files["auth/email_tokens.json"]] == ["confirm"]
    assert files["auth/sign_in_methods.json"][0]["subject"] == "subject-of-zelda"
    assert files["billing/trial_claims.json"][0]["email_digest"]
    (customer,) = files["billing/stripe_customers.json"]
    assert customer["stripe_customer_id"] in raw
    assert files["billing/purchases.json"][0]["stripe_payment_intent_id"] == intent
    assert [x["id"] for x in files["retention/sessions.json"]] == [session["id"]]
    assert version in [n["policy_version"] for n in files["retention/policy_notices.json"]]
    (exported_job,) = files["processor/jobs.json"]
    assert exported_job["placeholder"]["lqip"] and exported_job["placeholder"]["blurhash"]
    assert PASSWORD not in raw and "argon2" not in raw and "token_hash" not in raw


def test_exports_are_listed_and_staff_deliver_one_asked_for_by_email(
    stack: Stack, staff: Any
) -> None:
    name, email = unique_person()
    user = named_user(stack, name, email)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return retention_cli(stack, *args)

    # The person writes in from their address; staff find the account behind it.
    found = cli("--json", "find-user", email.upper())
    assert found.returncode == 0, found.stderr
    user_id = json.loads(found.stdout)["user_id"]
    assert user_id == user.account()["id"]
    assert cli("find-user", "nobody@example.test").returncode == 1
    opened = staff.OpenRequest(
        retention_pb2.OpenRequestRequest(user_id=user_id, kind="export"), metadata=MD
    ).request
    unknown = cli("deliver-export", str(uuid.uuid4()))
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr
    wait_for(
        lambda: call(user, "GET", "/v1/account/exports").json()["exports"][0]["status"] == "ready",
        what="export ready",
    )
    delivered = cli("--json", "deliver-export", opened.id)
    assert delivered.returncode == 0, delivered.stderr
    assert json.loads(delivered.stdout)["attached"] is True

    def mailed() -> Any:
        for f in mail_dir(stack).glob("*.eml"):
            message = message_from_bytes(f.read_bytes(), policy=email_policy.default)
            if message["To"] == email and message["Subject"] == "Your data export":
                return message
        return None

    message = wait_for(mailed, what="the export mailed")
    (attachment,) = message.iter_attachments()
    with zipfile.ZipFile(io.BytesIO(attachment.get_content())) as z:
        assert json.loads(z.read("auth/profile.json"))["email"] == email
    trail = staff.GetRequest(retention_pb2.GetRequestRequest(id=opened.id), metadata=MD).audit
    assert "export_delivered" in [a.action for a in trail]
    assert email not in " ".join(a.detail for a in trail)

    # The user lists their exports and downloads one from the list.
    (listed,) = call(user, "GET", "/v1/account/exports").json()["exports"]
    assert (listed["id"], listed["status"]) == (opened.id, "ready") and listed["expires_at"]
    archive = call(user, "GET", listed["download"])
    assert archive.status_code == 200 and archive.headers["Content-Type"] == "application/zip"
    other = named_user(stack, *unique_person())
    assert call(other, "GET", "/v1/account/exports").json()["exports"] == []
    assert call(other, "GET", listed["download"]).status_code == 404
