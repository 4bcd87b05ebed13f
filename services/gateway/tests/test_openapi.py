"""The generated OpenAPI document: complete for our routes and well-formed."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from picopt.kernel.settings import Settings
from services.gateway.app import create_app
from services.gateway.openapi import build_document

OWN_BLUEPRINTS = {"docs", "auth", "account", "jobs"}


@pytest.fixture
def app(tmp_path: Any) -> Flask:
    settings = Settings.load("gateway", {"VAR_DIR": str(tmp_path)})
    return create_app(settings, backends=object(), blobs=object())  # type: ignore[arg-type]


def test_every_route_of_ours_is_declared(app: Flask) -> None:
    doc = build_document(app, "t", "1")
    missing = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.partition(".")[0]
        if blueprint not in OWN_BLUEPRINTS or rule.rule in {"/v1/openapi.json", "/docs"}:
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if method.lower() not in doc["paths"].get(path, {}):
                missing.append(f"{method} {rule.rule}")
    assert not missing


def test_document_is_openapi_31_with_resolvable_refs(app: Flask) -> None:
    doc = app.test_client().get("/v1/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    schemas = doc["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref
    signup = doc["paths"]["/v1/auth/signup"]["post"]
    assert signup["security"] == []
    assert "application/json" in signup["requestBody"]["content"]


def test_invalid_body_is_a_problem_naming_the_field(app: Flask) -> None:
    reply = app.test_client().post("/v1/auth/login", json={"email": "a@b.c", "password": 7})
    assert reply.status_code == 400
    assert reply.mimetype == "application/problem+json"
    problem = reply.get_json()
    assert problem["field"] == "password"
    assert problem["type"] == "/problems/invalid-body"
    assert reply.headers["X-Request-Id"] == problem["request_id"]


def test_docs_page_lists_operations(app: Flask) -> None:
    page = app.test_client().get("/docs")
    assert page.status_code == 200
    assert b"POST /v1/jobs" in page.data
    assert "script" not in page.headers["Content-Security-Policy"]
