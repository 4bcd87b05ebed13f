"""The gateway's Flask application (the only public surface) and its composition root.

`create_app` is the one place that builds what the routes use, from `Settings` loaded once
per process (`__main__`): the gRPC backends, the blob store, the limiter, the call log, the
privacy facts, the health checks. Routes read them from `app.extensions` and
`app.config`, never from the environment; tests pass fakes for the backends and the store.
"""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from picopt.kernel import tracing
from picopt.kernel.blobstore import BlobStore, open_blob_store
from picopt.kernel.logs import bind_context, clear_context, get_logger
from picopt.kernel.settings import Settings
from services.gateway import (
    observability,
    readiness,
    routes_account,
    routes_auth,
    routes_billing,
    routes_docs,
    routes_jobs,
    routes_privacy,
    routes_sessions,
)
from services.gateway.backends import Backends
from services.gateway.call_log import CallLog
from services.gateway.limits import address_key, install_limiter
from services.gateway.privacy_facts import PrivacyFactsSource
from services.gateway.problems import Problem, render
from services.gateway.web import web

log = get_logger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _request_id() -> str:
    return getattr(g, "request_id", "") if _in_request() else ""


def _in_request() -> bool:
    from flask import has_request_context

    return has_request_context()


def create_app(
    settings: Settings,
    backends: Backends | None = None,
    blobs: BlobStore | None = None,
    facts: PrivacyFactsSource | None = None,
) -> Flask:
    """Build the app and every component it uses; pass `backends`/`blobs`/`facts` to swap
    in fakes (then no channel is opened and no call log is kept)."""
    env = settings.env
    app = Flask(__name__)
    observability.install(app, settings)
    app.config.update(
        MAX_CONTENT_LENGTH=env.int("MAX_UPLOAD_BYTES", 50 * 1024 * 1024),
        COOKIE_SECURE=env.bool("SESSION_COOKIE_SECURE", True),
        PUBLIC_URL=env.str("PUBLIC_URL").rstrip("/"),
    )
    app.extensions["settings"] = settings
    app.extensions["backends"] = backends or Backends.connect(settings, _request_id)
    app.extensions["privacy_facts"] = facts or PrivacyFactsSource(app.extensions["backends"])
    app.config["SESSION_COOKIE"] = "__Host-session" if app.config["COOKIE_SECURE"] else "session"
    if env.int("TRUSTED_PROXIES", 0):
        hops = env.int("TRUSTED_PROXIES", 0)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.extensions["blobs"] = blobs or open_blob_store(settings)
    limiter = install_limiter(app, settings)
    limiter.limit(lambda: app.extensions["auth_limit"], key_func=address_key)(routes_auth.bp)
    call_log = CallLog(app.extensions["backends"].auth) if backends is None else None
    # One blueprint per line: billing and privacy each add theirs here.
    app.extensions["backend_health"] = readiness.BackendHealth(settings)
    blueprints = [
        readiness.bp,
        routes_docs.bp,
        routes_auth.bp,
        routes_account.bp,
        routes_jobs.bp,
        routes_billing.bp,
        routes_privacy.bp,
        routes_sessions.bp,
        web.bp,
    ]
    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    @app.before_request
    def start_request() -> None:
        clear_context()
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()
        tracing.continue_trace(request.headers.get("traceparent"))
        bind_context(request_id=g.request_id)

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-Id"] = getattr(g, "request_id", "")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        ms = (time.perf_counter() - getattr(g, "started", time.perf_counter())) * 1000
        route = request.url_rule.rule if request.url_rule else "unmatched"
        if call_log is not None and getattr(g, "user_id", None):
            call_log.record(
                g.user_id,
                getattr(g, "key_id", ""),
                request.method,
                route,
                response.status_code,
                ms,
            )
        log.info(
            "http_request",
            method=request.method,
            route=route,
            status=response.status_code,
            ms=round(ms, 1),
            user_id=getattr(g, "user_id", None),
        )
        return response

    @app.errorhandler(Problem)
    def on_problem(problem: Problem) -> Response:
        response = render(problem)
        if "retry_after" in problem.extra:
            response.headers["Retry-After"] = str(problem.extra["retry_after"])
        return response

    @app.errorhandler(HTTPException)
    def on_http_error(err: HTTPException) -> Response:
        code = {
            413: "too-large",
            404: "not-found",
            405: "method-not-allowed",
            429: "rate-limited",
        }.get(err.code or 500, "bad-request")
        detail = err.description or ""
        if err.code == 413:
            detail = f"uploads are limited to {app.config['MAX_CONTENT_LENGTH']} bytes"
        response = render(Problem(err.code or 500, code, detail))
        if err.code == 429:
            response.headers.update(dict(err.get_headers()))
            response.headers["Content-Type"] = "application/problem+json"
        if err.code == 405:
            allow = dict(err.get_headers()).get("Allow")
            if allow:
                response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def on_error(err: Exception) -> Response:
        log.exception("unhandled_error")
        return render(Problem(500, "internal-error", "an internal error occurred"))

    return app
