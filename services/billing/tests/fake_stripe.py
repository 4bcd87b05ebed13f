"""A stand-in for Stripe's HTTP API on loopback for what localstripe does not serve
(Checkout Sessions): canned answers, and a record of every request exactly as sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeStripe:
    """Answers like Stripe's API with canned objects and records every request."""

    requests: list[Recorded] = field(default_factory=list)
    fail_next: int = 0
    url: str = ""

    def answer(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        if self.fail_next:
            self.fail_next -= 1
            return 400, {"error": {"type": "invalid_request_error", "message": "bad"}}
        created = sum(r.method == "POST" for r in self.requests)
        if rec.path == "/v1/customers":
            return 200, {"id": f"cus_rec{created}", "object": "customer"}
        if rec.path.startswith("/v1/checkout/sessions"):
            sid = rec.path.rsplit("/", 1)[1] if rec.method == "GET" else f"cs_test_rec{created}"
            return 200, {
                "id": sid,
                "object": "checkout.session",
                "url": f"https://checkout.stripe.com/c/pay/{sid}",
            }
        if rec.path.startswith("/v1/payment_intents"):
            pid = rec.path.rsplit("/", 1)[1] if rec.method == "GET" else f"pi_rec{created}"
            return 200, {"id": pid, "object": "payment_intent", "client_secret": f"{pid}_secret"}
        return 404, {"error": {"type": "invalid_request_error", "message": "no route"}}


@contextmanager
def serving() -> Iterator[FakeStripe]:
    """A FakeStripe listening on a free loopback port until the block ends."""
    fake = FakeStripe()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            path, _, query = self.path.partition("?")
            rec = Recorded(
                self.command, path, dict(self.headers.items()), dict(parse_qsl(body or query))
            )
            fake.requests.append(rec)
            status, payload = fake.answer(rec)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
