"""schemathesis against the running gateway's own OpenAPI document.

Every documented operation is called with generated inputs (authenticated by
a real API key): no response may be a 5xx, and every response must match
the document (status, content type, body schema, headers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from picopt.devstack import Stack
from services.gateway.tests.hostile_text import Case, cases
from tests.integration.conftest import new_user
from tests.integration.harness import running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"RATE_LIMIT_DEFAULT": "100000/minute", "RATE_LIMIT_AUTH": "100000/minute"}
    with running_stack(tmp_path_factory.mktemp("schema"), extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
def api_key(stack: Stack) -> str:
    return new_user(stack).http.headers["Authorization"]


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_every_operation_conforms_and_never_fails(stack: Stack, api_key: str) -> None:
    schema = schemathesis.openapi.from_url(stack.gateway_url() + "/v1/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(base_url=stack.gateway_url(), headers={"Authorization": api_key})

        try:
            check()
        except BaseExceptionGroup as group:
            real = [e for e in group.exceptions if not isinstance(e, RejectedPositiveData)]
            if real:
                failures.append(f"{operation.label}: {group}")
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def send(stack: Stack, api_key: str, case: Case) -> requests.Response:
    headers = {"Authorization": api_key}
    if case.form is not None:
        return requests.request(
            case.method,
            stack.gateway_url() + case.path,
            params=case.query,
            data=case.form,
            files=case.files(),
            headers=headers,
            timeout=30,
        )
    if case.body is not None:
        headers["Content-Type"] = "application/json"
    return requests.request(
        case.method,
        stack.gateway_url() + case.path,
        params=case.query,
        data=case.json_bytes(),
        headers=headers,
        timeout=30,
    )


def test_awkward_text_in_every_field_is_carried_or_refused_never_a_500(
    stack: Stack, api_key: str
) -> None:
    """NUL, lone surrogates and over-long text are refused naming the field (they used to
    reach PostgreSQL or protobuf and answer 500); control characters, bidi and combining
    marks and emoji at a field's full length pass through every backend."""
    doc = requests.get(stack.gateway_url() + "/v1/openapi.json", timeout=30).json()
    failures = []
    for case in cases(doc, awkward=True):
        if case.path == "/v1/auth/logout-everywhere" or (
            case.method == "DELETE" and case.path == "/v1/account"
        ):
            continue  # would end the API key the other cases use
        reply = send(stack, api_key, case)
        problem = reply.json() if reply.headers.get("Content-Type", "").endswith("json") else {}
        named = reply.status_code == 400 and problem.get("field") == case.field
        if reply.status_code >= 500 or (case.expects_field_named and not named):
            failures.append(f"{case.label}: {reply.status_code} {reply.text[:200]}")
    assert not failures, "\n".join(failures)
