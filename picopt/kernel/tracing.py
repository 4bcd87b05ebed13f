"""W3C trace context carried across HTTP, gRPC and AMQP.

One trace per job: the gateway starts (or continues) a trace, gRPC metadata
and event envelopes carry the `traceparent`, and every log line carries the
trace id through the logging context.
"""

from __future__ import annotations

import contextvars
import re
import secrets

from picopt.kernel.logs import bind_context

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: contextvars.ContextVar[str] = contextvars.ContextVar("traceparent", default="")


def new_traceparent(trace_id: str | None = None) -> str:
    """A fresh span id under the given (or a new) trace id."""
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def trace_id_of(traceparent: str) -> str:
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else ""


def continue_trace(traceparent: str | None) -> str:
    """Adopt an incoming traceparent (or start a trace) and bind it to logs."""
    trace_id = trace_id_of(traceparent or "")
    current = new_traceparent(trace_id or None)
    _current.set(current)
    bind_context(trace_id=trace_id_of(current))
    return current


def current_traceparent() -> str:
    return _current.get()
