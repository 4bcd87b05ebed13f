"""Run one optimisation in a child process so a hang, a memory blow-up or a decoder crash
costs the job, never the worker."""

from __future__ import annotations

import multiprocessing
import resource
from multiprocessing.connection import Connection

from .api import EngineError, Limits, OptimizeOptions, OptimizeResult

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["services.processor.engine.pipeline"])
_GRACE_S = 5.0


def optimize_isolated(
    data: bytes, options: OptimizeOptions | None = None, limits: Limits | None = None
) -> OptimizeResult:
    """Like `optimize`, in a fresh child with `limits.timeout_s` and `limits.max_memory_mb`."""
    options = options or OptimizeOptions()
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise EngineError(
            "too_large", f"The file is {len(data)} bytes; the limit is {limits.max_bytes}."
        )
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_child, args=(sender, data, options, limits), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(limits.timeout_s):
            raise EngineError(
                "timeout", f"The image took longer than {limits.timeout_s:g} s to process."
            )
        try:
            kind, payload = receiver.recv()
        except EOFError:
            child.join(_GRACE_S)
            raise _crash(child.exitcode) from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(_GRACE_S)
    if kind == "error":
        raise EngineError(*payload)
    return payload


def _crash(exitcode: int | None) -> EngineError:
    return EngineError(
        "corrupt_image", f"The image could not be decoded safely (exit code {exitcode})."
    )


def _child(conn: Connection, data: bytes, options: OptimizeOptions, limits: Limits) -> None:
    from .pipeline import optimize

    ceiling = limits.max_memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    try:
        conn.send(("ok", optimize(data, options, limits)))
    except EngineError as exc:
        conn.send(("error", (exc.code, exc.message)))
    except MemoryError:
        conn.send(("error", ("too_large", "The image needs more memory than the job may use.")))
    except Exception as exc:  # one bad image must never take the worker down
        conn.send(("error", ("internal_error", f"Unexpected failure: {type(exc).__name__}.")))
    finally:
        conn.close()
