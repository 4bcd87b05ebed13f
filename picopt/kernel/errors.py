"""Typed application errors, one place mapping them to gRPC and HTTP.

A service raises these; the gRPC server interceptor turns them into a status
plus a stable code in trailing metadata; the gateway turns that back into an
`application/problem+json` response.
"""

from __future__ import annotations

import grpc

ERROR_CODE_KEY = "picopt-error-code"


class AppError(Exception):
    """Base class: a failure the caller can act on, with a stable code."""

    status: grpc.StatusCode = grpc.StatusCode.INTERNAL
    code: str = "internal"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidArgument(AppError):
    status = grpc.StatusCode.INVALID_ARGUMENT
    code = "invalid_argument"


class NotFound(AppError):
    status = grpc.StatusCode.NOT_FOUND
    code = "not_found"


class AlreadyExists(AppError):
    status = grpc.StatusCode.ALREADY_EXISTS
    code = "already_exists"


class FailedPrecondition(AppError):
    status = grpc.StatusCode.FAILED_PRECONDITION
    code = "failed_precondition"


class Unauthenticated(AppError):
    status = grpc.StatusCode.UNAUTHENTICATED
    code = "unauthenticated"


class PermissionDenied(AppError):
    status = grpc.StatusCode.PERMISSION_DENIED
    code = "permission_denied"


class ResourceExhausted(AppError):
    status = grpc.StatusCode.RESOURCE_EXHAUSTED
    code = "resource_exhausted"


class Unavailable(AppError):
    status = grpc.StatusCode.UNAVAILABLE
    code = "unavailable"


class InsufficientCredits(FailedPrecondition):
    code = "insufficient_credits"


def error_code(err: grpc.RpcError) -> str:
    """The stable code a server attached to a failed call ('' if none)."""
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == ERROR_CODE_KEY:
            return value if isinstance(value, str) else value.decode()
    return ""
