"""Pages of the web app, served by the gateway on the same origin as the API.

The pages are shells: their scripts (same origin, no inline code) call the
/v1 API with the session cookie, so the app has no private back door and
every action it offers is also available to API clients.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request
from werkzeug.wrappers import Response as WsgiResponse

from picopt import formats
from picopt.kernel.settings import Settings
from picopt.vision_providers import (
    default_provider,
    enabled_providers,
    sends_images_off_machine,
)
from services.gateway.identity import csrf_cookie_name
from services.gateway.privacy_facts import (
    PrivacyFactsSource,
    ProviderFacts,
    RetentionFacts,
    duration,
)
from services.gateway.problems import Problem
from services.gateway.schemas import NEXT_PATH

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)

# Scripts, styles, images and fetches come from this origin only; results are
# shown from blob: URLs made in the page. No inline script or style anywhere.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    )
)
WEB_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
PAGES = {
    "optimizer": ("/app", "Optimize images"),
    "signin": ("/app/signin", "Sign in"),
    "signup": ("/app/signup", "Create an account"),
    "confirm": ("/app/confirm", "Confirm your email"),
    "reset": ("/app/reset", "Reset your password"),
    "keys": ("/app/keys", "API keys"),
    "billing": ("/app/billing", "Credits and billing"),
    "usage": ("/app/usage", "Usage and history"),
    "account": ("/app/account", "Your account"),
    "privacy": ("/app/privacy", "Privacy"),
}


@bp.after_request
def web_headers(response: Response) -> Response:
    for name, value in WEB_HEADERS.items():
        response.headers[name] = value
    return response


@dataclass(frozen=True)
class Cookie:
    name: str
    purpose: str
    lifetime: str


def _settings() -> Settings:
    settings: Settings = current_app.extensions["settings"]
    return settings


def cookies() -> tuple[Cookie, ...]:
    """Every cookie the app sets: essential ones only, so there is nothing to consent to."""
    return (
        Cookie(
            current_app.config["SESSION_COOKIE"],
            "keeps you signed in (HttpOnly, SameSite=Lax)",
            "until you sign out or the session expires",
        ),
        Cookie(
            csrf_cookie_name(),
            "proves that a change comes from this site's pages (bound to the session)",
            "same as the session",
        ),
        Cookie("oauth_state", "ties a provider sign-in to this browser", "10 minutes"),
    )


def oauth_providers() -> list[str]:
    """Providers auth is configured for (same environment: OAUTH_PROVIDERS plus a client id)."""
    env = _settings().env
    return [
        name
        for name in env.list("OAUTH_PROVIDERS")
        if env.str(f"OAUTH_{name.upper().replace('-', '_')}_CLIENT_ID")
    ]


def next_path() -> str:
    """The `next` page of the request when it is a page of this app, else empty."""
    wanted = request.args.get("next", "")
    return wanted if re.fullmatch(NEXT_PATH, wanted) else ""


def _render(page: str, **context: Any) -> str:
    path, title = PAGES[page]
    return render_template(
        f"{page}.html", page=page, path=path, title=title, pages=PAGES, **context
    )


@bp.get("/")
def home() -> WsgiResponse:
    return redirect("/app", code=302)


@bp.get("/app")
def optimizer() -> str:
    return _render(
        "optimizer",
        input_formats=[f.label for f in formats.FORMATS.values() if f.readable],
        output_formats=[(name, formats.get(name).label) for name in formats.REQUESTABLE],
        efforts=formats.EFFORTS,
        default_effort=formats.DEFAULT_EFFORT,
        max_dimension=formats.MAX_DIMENSION,
    )


@bp.get("/app/signin")
def signin() -> str:
    return _render("signin", providers=oauth_providers(), next_path=next_path())


@bp.get("/app/signup")
def signup() -> str:
    return _render("signup", providers=oauth_providers(), next_path=next_path())


@bp.get("/app/confirm")
def confirm() -> str:
    return _render("confirm")


@bp.get("/app/reset")
def reset() -> str:
    return _render("reset")


@bp.get("/app/keys")
def keys() -> str:
    return _render("keys")


@bp.get("/app/billing")
def billing() -> str:
    return _render("billing")


@bp.get("/app/usage")
def usage() -> str:
    return _render("usage")


@bp.get("/app/account")
def account() -> str:
    settings = _settings().env.env
    vision = [(name, sends_images_off_machine(name)) for name in enabled_providers(settings)]
    return _render(
        "account",
        providers=oauth_providers(),
        vision_providers=vision,
        vision_default=default_provider(settings),
    )


@bp.get("/app/privacy")
def privacy() -> tuple[str, int]:
    """The durations retention enforces and the providers vision runs, as they answer now;
    a fact whose service cannot be asked is shown as unavailable (and the page is a 503)."""
    source: PrivacyFactsSource = current_app.extensions["privacy_facts"]
    unavailable: list[str] = []
    retention: RetentionFacts | None = None
    providers: ProviderFacts | None = None
    try:
        retention = source.retention()
    except Problem:
        unavailable.append("retention")
    try:
        providers = source.providers()
    except Problem:
        unavailable.append("vision")
    page = _render(
        "privacy",
        retention=retention,
        providers=providers,
        cookies=cookies(),
        duration=duration,
        unavailable=unavailable,
    )
    return page, 503 if unavailable else 200
