"""The web pages: their own strict headers, no inline code, the settings on the privacy page."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from picopt import formats
from picopt.kernel.settings import Settings
from services.gateway.app import create_app
from services.gateway.tests.fakes import FakeBackends
from services.gateway.web.web import PAGES

STATIC = Path(__file__).resolve().parents[1] / "static"


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    env = {
        "VAR_DIR": str(tmp_path),
        "OAUTH_PROVIDERS": "github,corp",
        "OAUTH_GITHUB_CLIENT_ID": "gh-client",
        "RETENTION_LOG_DAYS": "30",
    }
    settings = Settings.load("gateway", env)
    return create_app(settings, backends=FakeBackends(), blobs=object())  # type: ignore[arg-type]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_has_a_strict_policy_and_no_inline_code(app: Flask, page: str) -> None:
    reply = app.test_client().get(PAGES[page][0])
    assert reply.status_code == 200
    csp = reply.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe" not in csp
    html = reply.get_data(as_text=True)
    assert "<script>" not in html and " style=" not in html and " on" + "click=" not in html
    assert f'src="/assets/pages/{page}.js"' in html
    assert (STATIC / "pages" / f"{page}.js").is_file()


def test_api_routes_keep_their_own_policy(app: Flask) -> None:
    reply = app.test_client().get("/v1/openapi.json")
    assert reply.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_only_configured_providers_get_a_button(app: Flask) -> None:
    html = app.test_client().get("/app/signin").get_data(as_text=True)
    assert "/v1/auth/oauth/github/start" in html
    assert "/v1/auth/oauth/corp/start" not in html  # no client id: not configured


def test_provider_buttons_carry_only_a_next_page_of_the_app(app: Flask) -> None:
    client = app.test_client()
    html = client.get("/app/signin?next=/app/keys").get_data(as_text=True)
    assert 'href="/v1/auth/oauth/github/start?next=%2Fapp%2Fkeys"' in html
    for bad in ("https://evil.test/app", "//evil.test", "/app/../v1"):
        html = client.get("/app/signin", query_string={"next": bad}).get_data(as_text=True)
        assert 'href="/v1/auth/oauth/github/start"' in html


def test_privacy_page_states_what_retention_and_vision_report(tmp_path: Path) -> None:
    """Not the gateway's own settings: RETENTION_LOG_DAYS here changes nothing on the page."""
    backends = FakeBackends()
    backends.retention.image_ttl = timedelta(hours=12)
    backends.vision.providers = (("anthropic", True), ("local", False))
    env = {"VAR_DIR": str(tmp_path), "RETENTION_LOG_DAYS": "30", "RETENTION_IMAGE_TTL": "60"}
    flask_app = create_app(Settings.load("gateway", env), backends=backends, blobs=object())  # type: ignore[arg-type]
    html = flask_app.test_client().get("/app/privacy").get_data(as_text=True)
    assert "at most 12 hours" in html and "90 days" in html and "30 days" in html
    assert "<strong>anthropic</strong> (the default): an external provider" in html
    assert "<strong>local</strong>: runs inside this installation" in html


def test_account_page_offers_only_the_enabled_vision_providers(tmp_path: Path) -> None:
    env = {"VAR_DIR": str(tmp_path), "VISION_ALLOWED_PROVIDERS": "local,claude"}
    settings = Settings.load("gateway", env)
    flask_app = create_app(settings, backends=FakeBackends(), blobs=object())  # type: ignore[arg-type]
    html = flask_app.test_client().get("/app/account").get_data(as_text=True)
    assert '<option value="">This installation\'s default (local)</option>' in html
    assert '<option value="anthropic">anthropic (external)</option>' in html
    assert 'value="openai"' not in html and 'value="gemini"' not in html
    assert '<label for="acc-vision-provider">' in html and '<label for="acc-language">' in html


def _options(html: str, select_id: str) -> list[str]:
    block = html.split(f'id="{select_id}"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="([^"]+)"', block)


def test_the_optimizer_offers_exactly_the_shared_formats_and_options(app: Flask) -> None:
    html = app.test_client().get("/app").get_data(as_text=True)
    assert _options(html, "opt-format") == ["auto", *formats.REQUESTABLE]
    assert set(_options(html, "opt-quality")) == set(formats.QUALITY_WORDS)
    assert _options(html, "opt-keep") == list(formats.KEEP_METADATA)
    readable = [f.label for f in formats.FORMATS.values() if f.readable]
    assert ", ".join(readable) in html


def test_the_optimizer_script_hard_codes_no_format() -> None:
    script = (STATIC / "pages" / "optimizer.js").read_text()
    assert "/v1/formats" in script
    for name in formats.FORMATS:
        assert f'"{name}' not in script and f"{name}:" not in script, name


def test_the_optimizer_offers_every_effort_with_the_default_chosen(app: Flask) -> None:
    html = app.test_client().get(PAGES["optimizer"][0]).get_data(as_text=True)
    for effort in formats.EFFORTS:
        selected = " selected" if effort == formats.DEFAULT_EFFORT else ""
        assert f'<option value="{effort}"{selected}>' in html
