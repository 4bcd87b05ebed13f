"""README "Backups and restore", run for real against PostgreSQL: a database restored to a
moment T brings back the people who asked to be erased after T, and the runbook's steps (list
the erasures since T from the live record, switch every service to the restored database, ask
for those erasures again) make them gone again while everyone else's data stays.

CloudNativePG does the backup and the point-in-time recovery in a cluster; here pg_dump at T
and pg_restore into a new database stand in for them, and everything after that is the
runbook's own commands against the running services."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from picopt.client import ApiError, Client
from picopt.demo import mailed_token
from picopt.devstack import Stack
from tests.integration.conftest import mail_dir, retention_cli, wait_for
from tests.integration.harness import fresh_database, running_stack
from tests.integration.images import graphic_png

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (shutil.which("pg_dump") and shutil.which("pg_restore")),
        reason="needs PostgreSQL's client tools (pg_dump, pg_restore)",
    ),
]

STAFF_TOKEN = secrets.token_urlsafe(24)
PASSWORD = "correct horse battery staple"
SCRIPT = Path(__file__).resolve().parents[2] / "deploy/k8s/restore/erasures-since.sh"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "RETENTION_STAFF_TOKEN": STAFF_TOKEN,
        "RETENTION_REQUEST_CHECK_INTERVAL": "1",
        "RETENTION_ERASURE_RETRY": "5",
    }
    with running_stack(tmp_path_factory.mktemp("restore"), extra_env=env, workers=1) as running:
        yield running


def person(stack: Stack, tag: str) -> tuple[Client, str, str]:
    """A confirmed account with an API key and one finished job: (api, email, user id)."""
    email = f"restore-{tag}-{secrets.token_hex(5)}@example.test"
    web = Client(stack.gateway_url())
    web.signup(f"Restore {tag}", email, PASSWORD)
    web.confirm(mailed_token(mail_dir(stack), email))
    web.login(email, PASSWORD)
    api = Client(stack.gateway_url(), api_key=web.create_api_key("restore"))
    wait_for(lambda: api.balance()["available"] > 0, what="trial credits")
    job = api.submit(graphic_png(), filename="g.png", metadata=False)
    assert api.wait(job["id"])["status"] == "done"
    return api, email, api.account()["id"]


def can_log_in(stack: Stack, email: str) -> bool:
    try:
        Client(stack.gateway_url()).login(email, PASSWORD)
    except ApiError as err:
        assert err.status == 401, err
        return False
    return True


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def erasure_completed(stack: Stack, user_id: str) -> bool:
    out = retention_cli(stack, "--json", "requests", "--user", user_id, token=STAFF_TOKEN)
    assert out.returncode == 0, out.stderr
    return any(
        r["kind"] == "erasure" and r["status"] == "completed"
        for r in json.loads(out.stdout)["requests"]
    )


def test_a_restore_forgets_later_erasures_and_the_runbook_makes_them_gone_again(
    stack: Stack, tmp_path: Path
) -> None:
    kept_api, kept_email, _ = person(stack, "kept")
    _, gone_email, gone_id = person(stack, "gone")

    # The nightly backup: the moment T the restore goes back to.
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    backup = tmp_path / "backup.dump"
    live_url = stack.env["DATABASE_URL"]
    subprocess.run(["pg_dump", "-Fc", "-f", str(backup), libpq(live_url)], check=True, timeout=120)

    # After T, one of them asks to be erased; it completes on the live database.
    opened = retention_cli(stack, "erase", gone_id, token=STAFF_TOKEN)
    assert opened.returncode == 0, opened.stderr
    wait_for(lambda: erasure_completed(stack, gone_id), timeout=60, what="the erasure")
    assert not can_log_in(stack, gone_email)

    # Runbook step 1: from the live record, the erasures a restore to T would forget.
    record = retention_cli(stack, "--json", "requests", token=STAFF_TOKEN)
    assert record.returncode == 0, record.stderr
    since = subprocess.run(
        [str(SCRIPT), t.strftime("%Y-%m-%dT%H:%M:%SZ")],
        input=record.stdout,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert since == [gone_id]

    with fresh_database(f"picopt_restored_{secrets.token_hex(5)}") as restored_url:
        subprocess.run(
            ["pg_restore", "--no-owner", "-d", libpq(restored_url), str(backup)],
            check=True,
            timeout=120,
        )
        # Step 3, the switch: every process onto the restored database.
        try:
            stack.env["DATABASE_URL"] = restored_url
            for name in list(stack.processes):
                stack.restart(name)
            stack.wait_healthy(timeout=90)

            # What the promise is about: the restore brought the erased person back.
            assert can_log_in(stack, gone_email), "the backup predates the erasure"

            # Step 4: ask for the listed erasures again.
            for user_id in since:
                again = retention_cli(stack, "erase", user_id, token=STAFF_TOKEN)
                assert again.returncode == 0, again.stderr
            wait_for(lambda: erasure_completed(stack, gone_id), timeout=60, what="re-erasure")
            assert not can_log_in(stack, gone_email)
            # Everyone else is as the backup left them.
            assert can_log_in(stack, kept_email)
            assert len(kept_api.jobs()["jobs"]) == 1
        finally:
            # The stack is this module's own and ends with the test: its processes stay on
            # the restored database until the fixture stops them.
            stack.env["DATABASE_URL"] = live_url
