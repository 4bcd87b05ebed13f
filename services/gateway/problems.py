"""Every error leaves the gateway as RFC 9457 `application/problem+json`.

Handlers raise `Problem`; gRPC failures from backends are translated by
`from_rpc_error`, using the stable code the backend put in trailing metadata.
"""

from __future__ import annotations

from typing import Any

import grpc
from flask import Response, g, json

from picopt.kernel.errors import error_code

PROBLEM_JSON = "application/problem+json"

_STATUS_BY_GRPC = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 404,  # never reveal that something exists
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 503,
}

# Codes whose HTTP status differs from their gRPC status's default.
_STATUS_BY_CODE = {
    "insufficient_credits": 402,
    "email_unconfirmed": 403,
    "reauthentication_required": 403,
}


class Problem(Exception):
    """An error response; `code` becomes the problem type's last path segment."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def from_rpc_error(err: grpc.RpcError, service: str) -> Problem:
    status_code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    code = error_code(err)
    if status_code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Problem(
            503, "service-unavailable", f"the {service} service is unavailable; try again shortly"
        )
    status = _STATUS_BY_CODE.get(code) or _STATUS_BY_GRPC.get(status_code, 500)
    if status == 500:
        return Problem(500, "internal-error", "an internal error occurred")
    detail = err.details() if hasattr(err, "details") else ""
    return Problem(status, code or status_code.name.lower(), detail or status_code.name.lower())


def render(problem: Problem) -> Response:
    slug = problem.code.replace("_", "-")
    body = {
        "type": f"/problems/{slug}",
        "title": _title(slug),
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code,
        "request_id": getattr(g, "request_id", ""),
        **problem.extra,
    }
    return Response(json.dumps(body), status=problem.status, mimetype=PROBLEM_JSON)


def _title(slug: str) -> str:
    return slug.replace("-", " ").capitalize()
