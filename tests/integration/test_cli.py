"""`picopt login | push | jobs | balance | usage | export` as a user runs them: real
processes against the running stack, with the config file in a private XDG_CONFIG_HOME.
Failures must be one clear line and lose nothing: no network, a rejected key, no credits
(402), a file over the upload limit (413), not an image (415), rate limiting (429, waited
out with Retry-After)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from picopt.client import Client
from picopt.demo import mailed_token
from picopt.devstack import Stack, free_port
from tests.integration.conftest import mail_dir, new_user, wait_for
from tests.integration.harness import running_stack
from tests.integration.images import graphic_png, skimage_photo
from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

PICOPT = str(Path(sys.executable).parent / "picopt")
UPLOAD_LIMIT = 3_000_000
RATE_LIMIT = 60
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "RATE_LIMIT_DEFAULT": f"{RATE_LIMIT}/5 seconds",
        "RATE_LIMIT_AUTH": "1000/minute",
        "RATE_LIMIT_PREFIX": f"cli-{uuid.uuid4().hex[:8]}",
        "BILLING_TRIAL_CREDITS": "20",
    }
    with running_stack(tmp_path_factory.mktemp("stack"), extra_env=env) as running:
        yield running


def picopt(
    *args: str, env: dict[str, str], stdin: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed `picopt` command with only the given PICOPT_* and XDG settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PICOPT_")}
    return subprocess.run(
        [PICOPT, *args],
        env={**clean, "COLUMNS": "200", **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
    )


def key_of(client: Client) -> str:
    return str(client.http.headers["Authorization"]).removeprefix("Bearer ")


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}


def test_login_stores_the_key_privately_and_other_commands_use_it(
    stack: Stack, home: dict[str, str]
) -> None:
    key = key_of(new_user(stack))
    done = picopt("login", "--url", stack.gateway_url(), env=home, stdin=key + "\n")
    assert done.returncode == 0, done.stderr
    config = Path(home["XDG_CONFIG_HOME"]) / "picopt" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text()) == {"url": stack.gateway_url(), "api_key": key}
    assert key not in done.stdout

    balance = picopt("balance", "--json", env=home)
    assert balance.returncode == 0, balance.stderr
    assert json.loads(balance.stdout)["available"] == 20

    # A rejected key is refused before anything is written.
    config.chmod(0o644)
    bad = picopt("login", "--url", stack.gateway_url(), env=home, stdin="pk_nonsense\n")
    assert bad.returncode == 1
    assert "API key was not accepted" in bad.stderr
    assert json.loads(config.read_text())["api_key"] == key
    # Logging in again tightens a loosened file.
    again = picopt("login", "--url", stack.gateway_url(), env=home, stdin=key + "\n")
    assert again.returncode == 0, again.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_login_with_email_and_password_creates_a_key(stack: Stack, home: dict[str, str]) -> None:
    email = f"cli-{uuid.uuid4().hex[:10]}@example.test"
    web = Client(stack.gateway_url())
    web.signup("Cli User", email, PASSWORD)
    web.confirm(mailed_token(mail_dir(stack), email))
    done = picopt(
        "login", "--url", stack.gateway_url(), "--email", email, env=home, stdin=PASSWORD + "\n"
    )
    assert done.returncode == 0, done.stderr
    assert "signed in" in done.stdout and "Cli User" in done.stdout
    web.login(email, PASSWORD)
    assert [k["name"] for k in web.api_keys()] == [f"picopt CLI on {os.uname().nodename}"[:100]]

    wrong = picopt(
        "login", "--url", stack.gateway_url(), "--email", email, env=home, stdin="nope\n"
    )
    assert wrong.returncode == 1 and "picopt: wrong email or password" in wrong.stderr


def test_environment_overrides_the_stored_configuration(stack: Stack, home: dict[str, str]) -> None:
    good = key_of(new_user(stack))
    stored = picopt("login", "--url", stack.gateway_url(), env=home, stdin=good + "\n")
    assert stored.returncode == 0, stored.stderr
    dead = f"http://127.0.0.1:{free_port()}"
    unreachable = picopt("balance", env={**home, "PICOPT_URL": dead})
    assert unreachable.returncode == 1
    assert f"cannot reach {dead}" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr

    rejected = picopt("balance", env={**home, "PICOPT_API_KEY": "pk_revoked_or_wrong"})
    assert rejected.returncode == 1 and "not accepted" in rejected.stderr

    # No config at all: the environment alone is enough (scripts, CI).
    bare = {"XDG_CONFIG_HOME": home["XDG_CONFIG_HOME"] + "-empty", "HOME": home["HOME"]}
    nothing = picopt("balance", env=bare)
    assert nothing.returncode == 1 and "picopt login" in nothing.stderr
    env_only = picopt(
        "balance", env={**bare, "PICOPT_URL": stack.gateway_url(), "PICOPT_API_KEY": good}
    )
    assert env_only.returncode == 0 and "available 20 credits" in env_only.stdout


def test_push_optimizes_files_in_parallel_and_prints_a_summary(
    stack: Stack, tmp_path: Path
) -> None:
    api = new_user(stack)
    env = {"PICOPT_URL": stack.gateway_url(), "PICOPT_API_KEY": key_of(api)}
    sources = tmp_path / "in"
    sources.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        (sources / name).write_bytes(skimage_photo(name).read_bytes())
    (sources / "banner.png").write_bytes(graphic_png())
    inputs = sorted(sources.iterdir())
    originals = {p: p.read_bytes() for p in inputs}

    out = tmp_path / "out"
    done = picopt(
        "push",
        *map(str, inputs),
        "--out-dir",
        str(out),
        "--accept",
        "webp,jpeg,png",
        "--parallel",
        "3",
        env=env,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    written = sorted(out.iterdir())
    assert {p.stem for p in written} == {"astronaut", "coffee", "banner"}
    for path in written:
        assert Image.open(path).format in {"WEBP", "JPEG", "PNG"}
    for column in ("file", "before", "after", "saved", "SSIMULACRA2"):
        assert column in done.stdout
    assert "3 of 3 optimized" in done.stdout
    assert "banner.png" in done.stderr  # the progress bars

    # Results written next to the inputs never replace them.
    same = picopt(
        "push",
        str(sources / "banner.png"),
        "--out-dir",
        str(sources),
        "--format",
        "png",
        "--width",
        "1280",
        "--enlarge",
        "--no-ai",
        "--json",
        env=env,
    )
    assert same.returncode == 0, same.stderr
    (item,) = json.loads(same.stdout)
    assert item["ok"] and item["saved_to"] == str(sources / "banner-2.png")
    assert Image.open(sources / "banner-2.png").width == 1280  # 640 px, --enlarge
    assert {p: p.read_bytes() for p in inputs} == originals

    jobs = picopt("jobs", "--limit", "2", env=env)
    assert jobs.returncode == 0, jobs.stderr
    assert jobs.stdout.count("done") >= 2
    assert "more: picopt jobs --cursor " in jobs.stdout
    cursor = jobs.stdout.rsplit("--cursor ", 1)[1].split()[0]
    rest = json.loads(picopt("jobs", "--cursor", cursor, "--json", env=env).stdout)
    assert len(rest["jobs"]) == 2 and rest["next_cursor"] is None

    usage = picopt("usage", "--json", env=env)
    assert usage.returncode == 0, usage.stderr
    (day,) = json.loads(usage.stdout)["items"]
    assert (day["jobs"], day["credits"]) == (4, 7)  # three with AI metadata, one without
    assert picopt("usage", "--group", "job", env=env).returncode == 0


def test_export_saves_the_archive(stack: Stack, tmp_path: Path) -> None:
    api = new_user(stack)
    env = {"PICOPT_URL": stack.gateway_url(), "PICOPT_API_KEY": key_of(api)}
    target = tmp_path / "mine.zip"
    done = picopt("export", "--out", str(target), env=env)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(target) as archive:
        assert any(n.endswith(".json") for n in archive.namelist())
        account = b"".join(archive.read(n) for n in archive.namelist())
    assert api.account()["email"].encode() in account


def key_without_credits(stack: Stack) -> str:
    """An API key of a confirmed account that got no trial: its address already had one.

    The first account moves to another address, which frees the first address for a
    second account; a trial is granted once per address, so the second gets none.
    """
    email = f"broke-{uuid.uuid4().hex[:10]}@example.test"
    first = Client(stack.gateway_url())
    first.signup("First", email, PASSWORD)
    first.confirm(mailed_token(mail_dir(stack), email))
    first.login(email, PASSWORD)
    moved = f"moved-{uuid.uuid4().hex[:10]}@example.test"
    first.update_account(email=moved, current_password=PASSWORD)
    first.confirm(mailed_token(mail_dir(stack), moved))
    second = Client(stack.gateway_url())
    asked = time.time_ns()
    second.signup("Broke", email, PASSWORD)
    second.confirm(mailed_token(mail_dir(stack), email, since_ns=asked))
    second.login(email, PASSWORD)
    return second.create_api_key("cli")


def test_push_failures_are_clear_and_lose_nothing(stack: Stack, tmp_path: Path) -> None:
    broke = {"PICOPT_URL": stack.gateway_url(), "PICOPT_API_KEY": key_without_credits(stack)}
    image = tmp_path / "banner.png"
    image.write_bytes(graphic_png())
    out = tmp_path / "out"
    no_credit = picopt("push", str(image), "--out-dir", str(out), env=broke)
    assert no_credit.returncode == 1
    assert "out of credits" in no_credit.stdout and "/app/billing" in no_credit.stdout
    assert not any(out.iterdir())

    api = new_user(stack)
    env = {"PICOPT_URL": stack.gateway_url(), "PICOPT_API_KEY": key_of(api)}
    before = api.balance()["available"]
    huge = tmp_path / "huge.png"
    huge.write_bytes(graphic_png() + os.urandom(UPLOAD_LIMIT))
    text = tmp_path / "notes.png"
    text.write_text("not an image at all\n")
    mixed = picopt(
        "push", str(huge), str(text), str(image), "--out-dir", str(out), "--json", env=env
    )
    assert mixed.returncode == 1
    by_name = {Path(i["file"]).name: i for i in json.loads(mixed.stdout)}
    assert by_name["huge.png"]["error"].startswith("too large: uploads are limited to")
    assert by_name["notes.png"]["error"].startswith("not a supported image")
    assert by_name["banner.png"]["ok"]
    assert [p.name for p in out.iterdir()] == [Path(by_name["banner.png"]["saved_to"]).name]
    wait_for(lambda: api.balance()["available"] == before - 2, what="only the good file charged")

    missing = picopt("push", str(image), str(tmp_path / "nope.jpg"), env=env)
    assert missing.returncode == 1
    assert "nope.jpg: no such file (nothing was uploaded)" in missing.stderr
    assert len(api.jobs()["jobs"]) == 1


def test_rate_limited_commands_wait_for_retry_after_and_succeed(stack: Stack) -> None:
    api = new_user(stack)
    key = key_of(api)
    url = f"{stack.gateway_url()}/v1/billing/balance"
    headers = {"Authorization": f"Bearer {key}"}
    exhausted = threading.Event()

    def exhaust_the_window_once() -> None:
        """Use up this key's window just before the command's first connection reaches the
        gateway, with at least 3 s of it left. (Exhausting it before starting the command
        lost the race when the command took longer to start than the window had left.)"""
        while not exhausted.is_set():
            reply = requests.get(url, headers=headers, timeout=5)
            if reply.status_code == 429 and int(reply.headers["Retry-After"]) >= 3:
                exhausted.set()
            elif reply.status_code == 429:
                time.sleep(0.2)  # too little left: let this window end and use up the next

    gateway = urlsplit(stack.gateway_url())
    with TcpProxy(
        gateway.hostname or "127.0.0.1", gateway.port or 80, exhaust_the_window_once
    ) as proxy:
        env = {"PICOPT_URL": f"http://127.0.0.1:{proxy.port}", "PICOPT_API_KEY": key}
        done = picopt("balance", env=env)
    assert exhausted.is_set()
    assert done.returncode == 0, done.stderr
    assert "rate limited by the service; retrying in" in done.stderr
    assert "available 20 credits" in done.stdout
