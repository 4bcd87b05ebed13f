"""The OpenAPI 3.1 document, generated from the routes themselves.

A route declares its contract with `@operation(...)`: pydantic models for the
JSON body, the query string and each response, plus the problem statuses it
may answer. The decorator validates the body and query (a 400 problem names
the field) and passes them to the view as `body=` / `query=`; `build_document`
walks the Flask URL map and turns every declared operation into the document
served at `/v1/openapi.json`. Routes without a declaration are not public API.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from services.gateway.problems import PROBLEM_JSON, Problem
from services.gateway.text_input import MAX_FORM_FIELD, MAX_PATH_PARAMETER, refuse_unstorable_text

F = TypeVar("F", bound=Callable[..., Any])

REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
# Every operation may answer these; routes add their own (400, 402, 404, 409, 413, ...).
ALWAYS = (429, 500, 503)
TITLES = {
    400: "Bad request",
    401: "Not signed in or invalid credentials",
    402: "Not enough credits",
    403: "CSRF token missing or wrong",
    404: "Not found (or not yours)",
    405: "Method not allowed",
    409: "Conflict with the current state",
    410: "Gone",
    413: "Upload too large",
    415: "Unsupported media type",
    429: "Rate limited; see Retry-After",
    500: "Internal error",
    503: "A backend service is unavailable; retry shortly",
}


class Problem9457(BaseModel):
    """application/problem+json (RFC 9457) as every error is answered."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str


@dataclass(frozen=True)
class Operation:
    summary: str
    tags: tuple[str, ...]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    form: dict[str, Any] | None = None
    responses: dict[int, type[BaseModel] | str | None] = field(default_factory=dict)
    problems: tuple[int, ...] = ()
    auth: bool = True
    csrf: bool = True


def _problem_from(err: ValidationError, where: str) -> Problem:
    first = err.errors()[0]
    location = ".".join(str(p) for p in first["loc"]) or where
    return Problem(
        400,
        "invalid-body" if where == "body" else "invalid-parameter",
        f"{location}: {first['msg']}",
        field=location,
    )


def operation(
    summary: str,
    *,
    tags: Iterable[str],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    form: dict[str, Any] | None = None,
    responses: dict[int, type[BaseModel] | str | None],
    problems: Iterable[int] = (),
    auth: bool = True,
    csrf: bool = True,
    body_optional: bool = False,
) -> Callable[[F], F]:
    """Declare a route's contract; validates `body` (JSON) and `query` before the view runs.

    With `body_optional`, a request without a body is validated as `{}` (the model's
    defaults), so clients that never sent one keep working.

    `responses` maps a success status to a model, a media type string (binary
    download) or None (no content). `problems` lists the error statuses beyond
    those every route may answer (401 is added when `auth` is true).
    """
    op = Operation(
        summary=summary,
        tags=tuple(tags),
        body=body,
        query=query,
        form=form,
        responses=responses,
        problems=tuple(problems),
        auth=auth,
        csrf=csrf,
    )

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            raw = request.get_json(silent=True) if body is not None else None
            refuse_unstorable_text(kwargs, raw, form is not None)
            if body is not None:
                if raw is None and body_optional and not request.get_data(cache=True):
                    raw = {}
                if not isinstance(raw, dict):
                    raise Problem(
                        400,
                        "invalid-body",
                        "send a JSON object with Content-Type: application/json",
                    )
                try:
                    kwargs["body"] = body.model_validate(raw)
                except ValidationError as err:
                    raise _problem_from(err, "body") from err
            if query is not None:
                try:
                    kwargs["query"] = query.model_validate(request.args.to_dict())
                except ValidationError as err:
                    raise _problem_from(err, "query") from err
            return view(*args, **kwargs)

        wrapper.__openapi__ = op  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _bounded_form(schema: dict[str, Any]) -> dict[str, Any]:
    """The form's schema with the length every text field is held to (files excepted)."""
    properties = {
        name: prop
        if prop.get("type") != "string" or "contentMediaType" in prop
        else {"maxLength": MAX_FORM_FIELD, **prop}
        for name, prop in schema.get("properties", {}).items()
    }
    return {**schema, "properties": properties}


def _models(ops: Iterable[Operation]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"Problem": Problem9457}
    for op in ops:
        for model in (op.body, op.query, *op.responses.values()):
            if isinstance(model, type) and issubclass(model, BaseModel):
                found[model.__name__] = model
    return list(found.values())


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": TITLES.get(status, "Error"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem9457")}}},
    }


def _query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation_document(rule_path: str, method: str, view: Any, op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{method.lower()}_{view.__name__}",
        "tags": list(op.tags),
    }
    path_schema = {"type": "string", "maxLength": MAX_PATH_PARAMETER}
    params = [
        {"name": name, "in": "path", "required": True, "schema": path_schema}
        for name in _PATH_PARAM.findall(rule_path)
    ]
    if op.query is not None:
        params += _query_parameters(op.query, {})
    if params:
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=op.body.__name__)}}
            },
        }
    elif op.form is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": _bounded_form(op.form)}},
        }
    responses: dict[str, Any] = {}
    for status, model in op.responses.items():
        if model is None:
            redirect = 300 <= status < 400
            responses[str(status)] = {
                "description": "Redirect (see Location)" if redirect else "No content"
            }
        elif isinstance(model, str):
            responses[str(status)] = {
                "description": "The file",
                "content": {model: {"schema": {"type": "string", "format": "binary"}}},
            }
        else:
            responses[str(status)] = {
                "description": model.__doc__.strip().splitlines()[0] if model.__doc__ else "OK",
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}
                },
            }
    statuses = set(op.problems) | set(ALWAYS)
    if op.auth:
        statuses |= {401}
        if op.csrf and method not in {"GET", "HEAD"}:
            statuses |= {403}
    if op.body is not None or op.query is not None or op.form is not None or params:
        statuses |= {400}
    for status in sorted(statuses):
        responses[str(status)] = _problem_response(status)
    doc["responses"] = responses
    if op.auth:
        doc["security"] = [{"apiKey": []}, {"session": []}]
    else:
        doc["security"] = []
    return doc


def build_document(app: Flask, title: str, version: str) -> dict[str, Any]:
    """OpenAPI 3.1 for every route declared with `@operation`, in URL-map order."""
    paths: dict[str, dict[str, Any]] = {}
    ops: list[Operation] = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        op: Operation | None = getattr(view, "__openapi__", None)
        if op is None:
            continue
        ops.append(op)
        path = _PATH_PARAM.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation_document(
                rule.rule, method, view, op
            )
    _, defs = models_json_schema([(m, "validation") for m in _models(ops)], ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (po_live_...) from POST /v1/api-keys",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "__Host-session",
                    "description": "Set by POST /v1/auth/login; unsafe methods also need "
                    "X-CSRF-Token equal to the __Host-csrf cookie (csrf_token on plain HTTP)",
                },
            },
        },
    }
