"""Fixtures: one running stack per module, plus a signed-up user with an API key."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from picopt.client import Client
from picopt.demo import mailed_token
from picopt.devstack import Stack
from tests.integration.harness import running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    with running_stack(tmp) as running:
        yield running


def wait_for(
    predicate: Any, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def mail_dir(stack: Stack) -> Path:
    return Path(stack.env["MAIL_DIR"])


def new_user(stack: Stack) -> Client:
    """Sign up, confirm through the emailed token, sign in, create an API key, wait for credits."""
    client = Client(stack.gateway_url())
    email = f"it-{uuid.uuid4().hex[:12]}@example.test"
    client.signup("Test User", email, "correct horse battery staple")
    client.confirm(mailed_token(mail_dir(stack), email))
    client.login(email, "correct horse battery staple")
    key = client.create_api_key("integration")
    api = Client(stack.gateway_url(), api_key=key)
    wait_for(lambda: api.balance()["available"] > 0, what="trial credits")
    return api


@pytest.fixture
def user(stack: Stack) -> Client:
    return new_user(stack)


def blob_dir(stack: Stack) -> Path:
    return Path(stack.env["BLOB_DIR"])


def retention_cli(
    stack: Stack, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The compliance staff command line against the stack (`token` overrides the staff token)."""
    env = {**stack.env, "RETENTION_ADDR": stack.grpc_address("retention")}
    if token is not None:
        env["RETENTION_STAFF_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "services.retention.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
