"""The OpenAPI document and a plain HTML rendering of it (no scripts, CSP-friendly)."""

from __future__ import annotations

import html
import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from services.gateway.openapi import build_document

bp = Blueprint("docs", __name__)

TITLE = "Picture Optimizer API"
VERSION = "1.0.0"
_DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def document() -> dict[str, Any]:
    """Built once per process, after every blueprint is registered."""
    cached: dict[str, Any] | None = current_app.extensions.get("openapi")
    if cached is None:
        cached = build_document(current_app, TITLE, VERSION)
        current_app.extensions["openapi"] = cached
    return cached


@bp.get("/v1/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())


def _schema_html(schema: dict[str, Any]) -> str:
    return f"<pre>{html.escape(json.dumps(schema, indent=2))}</pre>"


@bp.get("/docs")
def docs() -> Response:
    doc = document()
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{TITLE}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "pre{background:#f4f4f4;padding:.5em;overflow:auto}h3{margin-top:2em}</style>",
        f"</head><body><h1>{TITLE} {VERSION}</h1>",
        "<p>Machine-readable: <a href='/v1/openapi.json'>/v1/openapi.json</a> (OpenAPI 3.1). "
        "Authenticate with <code>Authorization: Bearer po_live_…</code> or the session cookie "
        "(then send the <code>__Host-csrf</code> cookie's value, <code>csrf_token</code> on "
        "plain HTTP, in <code>X-CSRF-Token</code> "
        "on unsafe methods). Errors are <code>application/problem+json</code>.</p>",
    ]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            parts.append(f"<h3>{method.upper()} {html.escape(path)}</h3>")
            parts.append(f"<p>{html.escape(op['summary'])}</p>")
            if "parameters" in op:
                names = ", ".join(f"{p['name']} ({p['in']})" for p in op["parameters"])
                parts.append(f"<p>Parameters: {html.escape(names)}</p>")
            if "requestBody" in op:
                for media, content in op["requestBody"]["content"].items():
                    parts.append(f"<p>Body ({html.escape(media)}):</p>")
                    parts.append(_schema_html(content["schema"]))
            statuses = ", ".join(
                f"{code} {r['description']}" for code, r in op["responses"].items()
            )
            parts.append(f"<p>Responses: {html.escape(statuses)}</p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in doc["components"]["schemas"].items():
        parts.append(f"<h3 id='{html.escape(name)}'>{html.escape(name)}</h3>")
        parts.append(_schema_html(schema))
    parts.append("</body></html>")
    response = Response("".join(parts), mimetype="text/html")
    response.headers["Content-Security-Policy"] = _DOCS_CSP
    return response
