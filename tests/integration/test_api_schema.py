"""schemathesis against the running gateway's own OpenAPI document.

Every documented operation is called with generated inputs (authenticated by
a real API key): no response may be a 5xx, and every response must match
the document (status, content type, body schema, headers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
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
