"""Run each optimisation in a child of the decoder host (sandbox_host.py), so a hang, a memory
blow-up or a decoder crash costs the job, never the caller, and a decoder that is made to run
code finds no secret and no network.

The host is started once per process with a scrubbed environment (only what Python and the
image libraries read: CHILD_ENV_KEYS) and outside the network when the platform allows it
(`Limits.network`: auto, required or off). Every failure leaves as an EngineError with a
stable code: too_large, too_many_pixels, timeout, corrupt_image, ... and internal_error only
for a bug.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import structlog

from .api import EngineError, EngineInterrupted, Limits, OptimizeOptions, OptimizeResult
from .sandbox_host import JOB_MESSAGE, KILL_GRACE_S

log = structlog.get_logger(__name__)

# The only variables the host and its children see: locale, temporary files, and how many
# threads the numeric and image libraries start. Database, broker, storage and key settings
# (DATABASE_URL, AMQP_URL, MASTER_KEY, AWS_*) never reach a decoder.
CHILD_ENV_KEYS = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VIPS_CONCURRENCY",
    "MALLOC_ARENA_MAX",
)
NETWORK_MODES = ("auto", "required", "off")
# How long the host may take to load the engine before it counts as broken.
START_TIMEOUT_S = 120.0
# Exit code of a child that failed outside optimize() (see sandbox_host._child).
_CHILD_FAILED = 70


def child_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the decoder host starts with."""
    source = os.environ if environ is None else environ
    return {k: source[k] for k in CHILD_ENV_KEYS if k in source}


@dataclass(frozen=True)
class SandboxStatus:
    pid: int
    network: str  # "isolated" or "shared"
    how: str
    environment: tuple[str, ...]


class Sandbox:
    """One decoder host, started on first use and again if it dies."""

    def __init__(self, network: str = "auto") -> None:
        if network not in NETWORK_MODES:
            raise ValueError(f"ENGINE_NETWORK_ISOLATION must be one of {NETWORK_MODES}")
        self.network = network
        self._lock = threading.Lock()
        self._host: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self.status: SandboxStatus | None = None

    def start(self) -> SandboxStatus:
        """Start the host unless it runs (RuntimeError when it cannot: with `required`, on a
        platform that refuses namespaces). The worker calls this at start-up, so such a
        platform stops it there; a job that finds it so fails with `isolation_unavailable`."""
        with self._lock:
            return self._started()

    def _started(self) -> SandboxStatus:
        if self._host is not None and self._host.poll() is None and self.status is not None:
            return self.status
        self._close()
        ours, theirs = socket.socketpair()
        environment = child_environment()
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
        self._host = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.processor.engine.sandbox_host",
                str(theirs.fileno()),
                json.dumps(sys.path),
                self.network,
                level,
            ],
            env=environment,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._control = ours
        ours.settimeout(START_TIMEOUT_S)
        try:
            line = ours.makefile("rb").readline()
        except OSError:
            line = b""
        ours.settimeout(None)
        reported = json.loads(line) if line else {"network": "dead", "how": "no answer"}
        if reported["network"] not in ("isolated", "shared"):
            self._close()
            raise RuntimeError(f"the decoder host did not start: {reported['how']}")
        self.status = SandboxStatus(
            self._host.pid, reported["network"], reported["how"], tuple(sorted(environment))
        )
        log_event = log.info if self.status.network == "isolated" else log.warning
        log_event(
            "engine_sandbox_started",
            pid=self.status.pid,
            network=self.status.network,
            how=self.status.how,
            environment=list(self.status.environment),
        )
        return self.status

    def optimize(self, data: bytes, options: OptimizeOptions, limits: Limits) -> OptimizeResult:
        """`optimize` in a fresh child: `limits.timeout_s` and `limits.max_memory_mb` hold."""
        if len(data) > limits.max_bytes:
            raise EngineError(
                "too_large", f"The file is {len(data)} bytes; the limit is {limits.max_bytes}."
            )
        ours, theirs = socket.socketpair()
        with self._lock:
            try:
                self._started()
            except RuntimeError as exc:
                raise EngineError("isolation_unavailable", str(exc)) from exc
            assert self._control is not None
            try:
                message = JOB_MESSAGE.pack(limits.timeout_s)
                socket.send_fds(self._control, [message], [theirs.fileno()])
            except OSError:
                self._close()  # the host died: the next job starts another
                raise EngineError("internal_error", "The decoder host is not running.") from None
        theirs.close()
        answer: tuple[str, Any] = ("exit", None)  # the host died before the child's end
        with Connection(ours.detach()) as conn:
            with contextlib.suppress(OSError):  # the child is gone already: the host says why
                conn.send((data, options, limits))
            try:
                answered = conn.poll(limits.timeout_s + KILL_GRACE_S)
                answer = conn.recv() if answered else ("timeout", None)
            except (EOFError, OSError):
                pass
        kind, payload = answer
        if kind == "exit" and payload is None:
            # The host itself went (stopped by close(), or killed): not the image's doing.
            raise EngineInterrupted("The decoder host stopped while the job ran.")
        if kind == "ok":
            assert isinstance(payload, OptimizeResult)
            return payload
        if kind == "error":
            code, message = payload
            raise EngineError(code, message)
        if kind == "timeout":
            raise EngineError(
                "timeout", f"The image took longer than {limits.timeout_s:g} s to process."
            )
        raise _crash(payload)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._control is not None:
            self._control.close()  # the host sees the end of its control socket and exits
            self._control = None
        if self._host is not None:
            try:
                self._host.wait(5)
            except subprocess.TimeoutExpired:
                self._host.kill()
                self._host.wait()
            self._host = None
        self.status = None


def _crash(exitcode: object) -> EngineError:
    """A child that died without answering: killed by a signal (a decoder crash, the kernel's
    memory killer) or failed before optimize ran."""
    if exitcode == _CHILD_FAILED:
        return EngineError("internal_error", "The isolated job could not start.")
    return EngineError(
        "corrupt_image", f"The image could not be decoded safely (exit code {exitcode})."
    )


_SANDBOXES: dict[str, Sandbox] = {}
_SANDBOXES_LOCK = threading.Lock()


def sandbox(network: str = "auto") -> Sandbox:
    """The process's sandbox for `network` (one host per mode, started on first use)."""
    with _SANDBOXES_LOCK:
        if network not in _SANDBOXES:
            _SANDBOXES[network] = Sandbox(network)
        return _SANDBOXES[network]


def optimize_isolated(
    data: bytes, options: OptimizeOptions | None = None, limits: Limits | None = None
) -> OptimizeResult:
    """Like `optimize`, in a child of the decoder host, within `limits`."""
    limits = limits or Limits()
    return sandbox(limits.network).optimize(data, options or OptimizeOptions(), limits)
