"""Readiness: a process is ready while the backends it needs answer.

Liveness and readiness are different questions, and the gRPC health service
answers both:

- the overall status ("") and every service the server registered are SERVING
  while every readiness check passes (the database answers, the consumers hold
  a broker connection) and NOT_SERVING otherwise, so Kubernetes takes the pod
  out of its Service until they are back;
- `LIVENESS` is SERVING from start to stop whatever the backends do: restarting
  the process would not bring the database back.

`ServiceApp` registers the checks of what a service wires (`database()`,
`consume()`) and runs them every `HEALTH_CHECK_INTERVAL_S` seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from picopt.kernel.logs import get_logger

log = get_logger(__name__)

# The health service name a liveness probe asks for (readiness asks for "").
LIVENESS = "liveness"


class Readiness:
    """Named checks (each raises, or returns False, when its backend is unreachable),
    evaluated together on a timer; `on_change` hears every change of the verdict."""

    def __init__(self, interval_s: float, on_change: Callable[[bool], None]) -> None:
        self.interval_s = interval_s
        self._on_change = on_change
        self._checks: dict[str, Callable[[], object]] = {}
        self._ready: bool | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, check: Callable[[], object]) -> None:
        self._checks[name] = check

    def has(self, name: str) -> bool:
        return name in self._checks

    @property
    def ready(self) -> bool:
        return bool(self._ready)

    def failing(self) -> dict[str, str]:
        """The checks that fail now, with the error type (never its message: it may hold URLs)."""
        failed: dict[str, str] = {}
        for name, check in self._checks.items():
            try:
                if check() is False:
                    failed[name] = "unreachable"
            except Exception as exc:
                failed[name] = type(exc).__name__
        return failed

    def evaluate(self) -> bool:
        """Run every check once and publish the verdict when it changed."""
        failed = self.failing()
        ready = not failed
        if ready != self._ready:
            if ready:
                log.info("readiness_changed", ready=True)
            else:
                log.warning("readiness_changed", ready=False, failing=failed)
            self._ready = ready
            self._on_change(ready)
        return ready

    def start(self) -> None:
        """Evaluate on a timer: every `interval_s` while ready, every second while not (a
        backend that returns, or a consumer that connects, is noticed at once)."""
        self._thread = threading.Thread(target=self._loop, name="readiness", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s if self._ready else min(1.0, self.interval_s)):
            try:
                self.evaluate()
            except Exception:
                log.exception("readiness_check_crashed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 5)
