"""Text no backend can carry (NUL, lone surrogates) or that is over its field's length is
refused with a 400 problem naming the field, on every documented route at once; numbers are
ASCII digits only."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.gateway.tests.conftest import csrf, signed_in
from services.gateway.tests.fakes import FakeBackends
from services.gateway.tests.hostile_text import PNG, Case, cases

PROBLEM_CODES = {"invalid-parameter", "invalid-body", "invalid-option"}


def send(client: FlaskClient, case: Case) -> Any:
    if case.form is not None:
        data: Any = {**case.form, "file": [(f[1][1], f[1][0]) for f in case.files()]}
        return client.open(
            case.path,
            method=case.method,
            query_string=case.query,
            data=data,
            content_type="multipart/form-data",
        )
    return client.open(
        case.path,
        method=case.method,
        query_string=case.query,
        data=case.json_bytes(),
        content_type="application/json" if case.body is not None else None,
    )


def test_every_text_slot_refuses_nul_surrogates_and_over_long_text(client: FlaskClient) -> None:
    doc = client.get("/v1/openapi.json").get_json()
    failures, count = [], 0
    for case in cases(doc):
        count += 1
        reply = send(client, case)
        problem = reply.get_json(silent=True) or {}
        if reply.status_code >= 500 or (
            case.expects_field_named
            and (
                reply.status_code != 400
                or reply.mimetype != "application/problem+json"
                or problem.get("code") not in PROBLEM_CODES
                or problem.get("field") != case.field
            )
        ):
            failures.append(f"{case.label}: {reply.status_code} {problem}")
    assert count > 100
    assert not failures, "\n".join(failures)


def test_a_hostile_json_key_is_refused_and_echoed_harmlessly(client: FlaskClient) -> None:
    reply = client.post(
        "/v1/api-keys", data=b'{"na\\udaa5me\\u0000": "x"}', content_type="application/json"
    )
    assert reply.status_code == 400
    problem = reply.get_json()
    assert problem["code"] == "invalid-body" and problem["field"] == "na\ufffdme\ufffd"


@pytest.mark.parametrize(
    "disposition",
    ['form-data; name="\\"', "form-data", 'form-data; name=""', 'form-data; filename="a.png"'],
)
def test_a_form_part_without_a_readable_name_is_a_400(
    client: FlaskClient, backends: FakeBackends, disposition: str
) -> None:
    """Found by schemathesis: `name="\\"` (an escaped closing quote) reached the checks as
    the name None and answered 500."""
    signed_in(client, backends)
    boundary = "b0undary"
    body = (
        (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\nx\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + PNG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    reply = client.post(
        "/v1/jobs",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=csrf(client),
    )
    assert reply.status_code == 400, reply.get_data(as_text=True)
    assert reply.mimetype == "application/problem+json"
    assert reply.get_json()["code"] == "invalid-option"


@pytest.mark.parametrize("field", ["width", "height", "widths", "quality"])
@pytest.mark.parametrize("digits", ["\u00b2", "\u2460", "\u0661\u0662"])
def test_numbers_are_ascii_digits(
    client: FlaskClient, backends: FakeBackends, field: str, digits: str
) -> None:
    """`"²".isdigit()` is true but int() refuses it: that was a 500."""
    signed_in(client, backends)
    reply = client.post(
        "/v1/jobs",
        data={field: digits, "file": (io.BytesIO(PNG), "a.png")},
        content_type="multipart/form-data",
        headers=csrf(client),
    )
    assert reply.status_code == 400 and reply.get_json()["field"] == field
