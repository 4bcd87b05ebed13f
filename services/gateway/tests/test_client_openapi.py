"""Every request the typed client makes is an operation of the gateway's OpenAPI document.

The client is written by hand (small, typed, readable); this test is what keeps it
honest: a renamed route, a wrong method or a typo in a path fails here, not at a user.
"""

from __future__ import annotations

import ast
import inspect
import re
from typing import Any

import pytest

from picopt import client as client_module
from picopt.kernel.settings import Settings
from services.gateway.app import create_app

# Client methods that make no HTTP call of their own.
LOCAL_METHODS = {"__init__", "_call", "_call_once", "use_api_key", "wait"}


def client_calls() -> dict[str, list[tuple[str, str]]]:
    """{method name: [(HTTP method, path template with {} for parameters)]} from the source."""
    tree = ast.parse(inspect.getsource(client_module))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Client"]
    calls: dict[str, list[tuple[str, str]]] = {}
    for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
        found = calls.setdefault(fn.name, [])
        for node in ast.walk(fn):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "_call"
            ):
                continue
            verb, path = node.args[0], node.args[1]
            assert isinstance(verb, ast.Constant), f"{fn.name}: HTTP method must be a literal"
            if isinstance(path, ast.Constant):
                template = str(path.value)
            else:
                assert isinstance(path, ast.JoinedStr), f"{fn.name}: path must be a (f-)string"
                template = "".join(
                    str(part.value) if isinstance(part, ast.Constant) else "{}"
                    for part in path.values
                )
            found.append((str(verb.value), template))
    return calls


@pytest.fixture(scope="module")
def operations(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    settings = Settings.load("gateway", {"VAR_DIR": str(tmp_path_factory.mktemp("var"))})
    app = create_app(settings, backends=object(), blobs=object())  # type: ignore[arg-type]
    document: dict[str, Any] = app.test_client().get("/v1/openapi.json").get_json()
    return {
        (verb.upper(), re.sub(r"\{[^}]+\}", "{}", path))
        for path, item in document["paths"].items()
        for verb in item
        if verb in {"get", "post", "put", "patch", "delete"}
    }


def test_every_client_request_is_a_documented_operation(operations: set[tuple[str, str]]) -> None:
    calls = client_calls()
    missing = {
        name: call for name, made in calls.items() for call in made if call not in operations
    }
    assert not missing, f"client requests not in /v1/openapi.json: {missing}"


def test_every_public_client_method_is_checked() -> None:
    silent = [n for n, made in client_calls().items() if not made and n not in LOCAL_METHODS]
    assert not silent, f"methods whose request this test cannot see: {silent}"
    assert client_calls()["submit"] == [("POST", "/v1/jobs")] * 2
    assert client_calls()["download"] == [("GET", "/v1/jobs/{}/result")]


def test_the_check_catches_a_wrong_path(operations: set[tuple[str, str]]) -> None:
    assert ("GET", "/v1/jobs/{}") in operations
    assert ("GET", "/v1/job/{}") not in operations
    assert ("PUT", "/v1/jobs/{}") not in operations
