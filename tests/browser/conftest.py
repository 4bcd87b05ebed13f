"""Browser suite fixtures: a stack with billing on localstripe and sign-in through a loopback
OpenID Connect provider ("corp"), and Debian's chromium.

Playwright drives /usr/bin/chromium (`apt-get install chromium`); no browser
is downloaded. axe-core comes from this folder's pinned package-lock.json
(`npm ci --prefix tests/browser`) and is injected into pages under test only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from picopt.devstack import Stack, free_port
from picopt.kernel.tests.test_mailer import self_signed_cert
from services.billing.tests import stripe_fixtures as sf
from tests.integration.harness import (
    LOCALSTRIPE_KEY,
    deliver_stripe_webhooks,
    running_localstripe,
    running_stack,
)
from tests.integration.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
STRIPE_KEY = LOCALSTRIPE_KEY
TRIAL_CREDITS = 12
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """localstripe on a free loopback port, from scratch, for this module only."""
    with running_localstripe(tmp_path_factory.mktemp("localstripe")) as url:
        yield url


@dataclass(frozen=True)
class Gateway:
    """Where the gateway will listen, chosen before anything starts (mail links, callback)."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    return Gateway(free_port())


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory, gateway: Gateway) -> Iterator[OidcProvider]:
    """The "corp" provider over HTTPS (self-signed; auth trusts it, the browser ignores it)."""
    cert, key = self_signed_cert(tmp_path_factory.mktemp("oidc-tls"))
    with OidcProvider(cert, key, f"{gateway.url}/v1/auth/oauth/corp/callback") as provider:
        yield provider


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    localstripe: str,
    gateway: Gateway,
    oidc: OidcProvider,
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    env = {
        "GATEWAY_PORT": str(gateway.port),
        "PUBLIC_URL": gateway.url,
        "OAUTH_PROVIDERS": "corp",
        "OAUTH_CORP_CLIENT_ID": CLIENT_ID,
        "OAUTH_CORP_CLIENT_SECRET": CLIENT_SECRET,
        "OAUTH_CORP_TRUST_EMAIL": "true",  # links and creates by verified email
        "OAUTH_CORP_ISSUER": oidc.issuer,
        "REQUESTS_CA_BUNDLE": str(oidc.cert),
        "STRIPE_API_KEY": STRIPE_KEY,
        "STRIPE_API_BASE": localstripe,
        "STRIPE_WEBHOOK_SECRET": sf.WEBHOOK_SECRET,
        "BILLING_PURCHASE_MODE": "payment_intent",
        "BILLING_TRIAL_CREDITS": str(TRIAL_CREDITS),
    }
    with running_stack(tmp, extra_env=env) as running:
        deliver_stripe_webhooks(localstripe, running.gateway_url(), sf.WEBHOOK_SECRET)
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: npm ci --prefix tests/browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
