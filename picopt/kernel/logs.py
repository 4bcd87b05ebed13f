"""Structured JSON logs for every process, with ids bound from context.

Request and job ids are bound with `bind_context` and appear on every line;
the trace and span ids come from the current OpenTelemetry span. Fields that
could carry personal data or secrets are dropped before rendering, and so are
the values database errors quote, as a safety net behind the rule of not
logging them at all.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from opentelemetry import trace
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars

REDACTED_KEYS = frozenset(
    {
        "email",
        "name",
        "password",
        "token",
        "secret",
        "api_key",
        "authorization",
        "cookie",
        "session_token",
        "data",
        "body",
    }
)

__all__ = ["bind_context", "bound_context", "clear_context", "configure", "get_logger"]

bind_context = bind_contextvars
bound_context = bound_contextvars
clear_context = clear_contextvars


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in REDACTED_KEYS:
            event[key] = "[redacted]"
    return event


# PostgreSQL's error text carries the row's values ("DETAIL:  Key (email)=(ada@...) already
# exists", "Failing row contains (...)"); SQLAlchemy's engines already hide the statement's
# parameters (picopt.kernel.db), these lines go too.
_SERVER_DETAIL = re.compile(r"^(DETAIL|CONTEXT|HINT|LINE \d+): .*$", re.MULTILINE)


class _ExceptionsWithoutValues(structlog.tracebacks.ExceptionDictTransformer):
    """Tracebacks as data, without frame locals and without database error details."""

    def __init__(self) -> None:
        super().__init__(show_locals=False)

    def __call__(self, exc_info: Any) -> list[dict[str, Any]]:
        stacks = super().__call__(exc_info)
        for stack in stacks:
            value = stack.get("exc_value")
            if isinstance(value, str):
                stack["exc_value"] = _SERVER_DETAIL.sub(r"\1: [redacted]", value)
        return stacks


def _add_trace(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The current span's trace id wins over a bound one: every line inside a span has it."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written, not when logging was configured: a
    stream swapped and closed since (a test's captured stderr) must not break later lines."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(service: str, level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library (stderr by default); calling it again
    reconfigures every logger, including ones that have already written."""
    out: Any = stream or _CurrentStderr()
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_trace,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    structlog.configure(
        processors=[
            *shared,
            # Tracebacks as data, but never frame locals (they hold passwords and emails)
            # nor the values a database error quotes.
            structlog.processors.ExceptionRenderer(_ExceptionsWithoutValues()),
            structlog.processors.EventRenamer("event"),
            _add_service(service),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        # A module's logger must follow a later configure (the CLI's, a test's capture):
        # a cached one keeps the processors, level and stream of the first line it wrote,
        # so logs silently went elsewhere depending on test order. Assembling a logger per
        # line costs about 2 us.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(),
            foreign_pre_chain=[*shared, _add_service(service)],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("pika", "alembic", "urllib3", "werkzeug", "gunicorn.access"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    # pika warns of every returned message (quoting its body) and every channel closed by
    # the broker (the expected answer to a passive probe); the messaging code raises both
    # as exceptions where they matter.
    for chatty in ("pika.adapters.blocking_connection", "pika.channel"):
        logging.getLogger(chatty).setLevel(logging.ERROR)


def _add_service(service: str) -> Any:
    def processor(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("service", service)
        return event

    return processor


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
