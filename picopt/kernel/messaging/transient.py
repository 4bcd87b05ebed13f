"""Which handler failures are worth waiting out: a backend that is down or busy.

A transient failure (database or broker unreachable, a gRPC peer UNAVAILABLE, a
deadlock) is retried with backoff for as long as an outage may reasonably last;
any other failure is a bug or a bad message and gets a few attempts only.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator

import grpc
import pika.exceptions
import sqlalchemy.exc

from picopt.kernel.messaging.publisher import PublishError


class TransientError(Exception):
    """Raised by a handler to say: a dependency is unavailable, retry later with backoff."""


class PermanentError(Exception):
    """Raised by a handler to say: retrying will not help; dead-letter now."""


_GRPC_TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)
# SQLSTATE classes: connection exception, transaction rollback (serialization failure,
# deadlock), insufficient resources, operator intervention (shutdown, starting up);
# 55P03 is lock_not_available.
_SQLSTATE_TRANSIENT_CLASSES = ("08", "40", "53", "57")
_SQLSTATE_TRANSIENT = frozenset({"55P03"})
_SQLITE_TRANSIENT = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL"})
_BROKER_ERRORS = (
    PublishError,
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.AMQPChannelError,
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and the ones it was raised from or during, nearest first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _database_transient(exc: sqlalchemy.exc.DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _SQLSTATE_TRANSIENT_CLASSES or sqlstate in _SQLSTATE_TRANSIENT
    sqlite_name = getattr(orig, "sqlite_errorname", None)
    if isinstance(sqlite_name, str):
        return sqlite_name in _SQLITE_TRANSIENT
    # No SQLSTATE: the server never answered (refused, reset, timed out while connecting).
    return isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError)


def _object_store_transient(exc: BaseException) -> bool:
    """S3 unreachable or throttling, if the S3 client is in use in this process."""
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is None:
        return False
    if isinstance(exc, botocore.ConnectionError | botocore.HTTPClientError):
        return True
    if isinstance(exc, botocore.ClientError):
        response = getattr(exc, "response", {}) or {}
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        code = str(response.get("Error", {}).get("Code", ""))
        return status >= 500 or code in {"SlowDown", "Throttling", "RequestTimeout"}
    return False


def _one_transient(exc: BaseException) -> bool | None:
    """True/False when this exception decides it; None to look further down the chain."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, PermanentError):
        return False
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return _database_transient(exc)
    if isinstance(exc, sqlalchemy.exc.TimeoutError | sqlalchemy.exc.DisconnectionError):
        return True  # connection pool exhausted or a connection lost while checked out
    if isinstance(exc, grpc.RpcError) and callable(getattr(exc, "code", None)):
        return exc.code() in _GRPC_TRANSIENT
    if isinstance(exc, _BROKER_ERRORS):
        return True  # the broker is down, refused the message or has no queue bound yet
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if _object_store_transient(exc):
        return True
    return None


def is_transient(exc: BaseException) -> bool:
    """True when the failure comes from a dependency that is down or busy, not from the event.

    Wrapped exceptions count: an error raised while handling a lost connection is as
    transient as the lost connection.
    """
    for link in _chain(exc):
        verdict = _one_transient(link)
        if verdict is not None:
            return verdict
    return False
