"""The API call log: every authenticated call, batched to auth in the background.

Only ids, the route template (never the concrete path), the status, the
duration and the time are sent: no bodies, no addresses, no personal data.
Auth stores them in its `api_calls` table, serves them at /v1/account/api-calls
and purges them on `logs.purge`. Losing a batch when auth is down is logged,
never fails a request.
"""

from __future__ import annotations

import queue
import threading
from datetime import UTC, datetime
from typing import Any

from picopt.auth.v1 import auth_pb2
from picopt.kernel.logs import get_logger
from picopt.kernel.protos import to_timestamp

log = get_logger(__name__)

MAX_BATCH = 200
MAX_QUEUED = 10_000


class CallLog:
    def __init__(self, auth_stub: Any, interval_s: float = 1.0) -> None:
        self.auth = auth_stub
        self.interval_s = interval_s
        self._queue: queue.Queue[auth_pb2.ApiCall] = queue.Queue(MAX_QUEUED)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="call-log", daemon=True)
        self._thread.start()

    def record(
        self, user_id: str, key_id: str, method: str, route: str, status: int, ms: float
    ) -> None:
        call = auth_pb2.ApiCall(
            user_id=user_id,
            key_id=key_id,
            method=method,
            route=route,
            status=status,
            duration_ms=round(ms),
            at=to_timestamp(datetime.now(UTC)),
        )
        try:
            self._queue.put_nowait(call)
        except queue.Full:
            log.warning("call_log_full")

    def _drain(self) -> list[auth_pb2.ApiCall]:
        batch: list[auth_pb2.ApiCall] = []
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def flush(self) -> None:
        while batch := self._drain():
            try:
                self.auth.RecordApiCalls(auth_pb2.RecordApiCallsRequest(calls=batch))
            except Exception as exc:
                log.warning("call_log_flush_failed", calls=len(batch), error=type(exc).__name__)
                return

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()
        self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
