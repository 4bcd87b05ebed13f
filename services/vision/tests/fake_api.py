"""A scripted HTTP server on 127.0.0.1 that answers like the vision APIs do.

Each test queues the responses it wants (success in a provider's wire format, 429 with
Retry-After, 5xx, a slow answer that trips the client timeout) and then inspects what the
adapter sent.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VALID: dict[str, Any] = {
    "alt_text": "Close-up portrait of an astronaut in an orange suit",
    "caption": "An astronaut poses in an orange suit. A flag hangs behind her.",
    "tags": [{"label": "astronaut", "confidence": 0.97}, {"label": "portrait", "confidence": 0.9}],
    "detected_text": [
        {"text": "NASA", "box": {"x": 10, "y": 20, "width": 40, "height": 12}, "confidence": 0.9}
    ],
    "faces": {"count": 1, "boxes": [{"x": 100, "y": 40, "width": 60, "height": 60}]},
    "colors": [{"hex": "#E05A1B", "share": 0.4}, {"hex": "#101010", "share": 0.3}],
    "kind": "photo",
    "quality": {
        "blurry": False,
        "underexposed": False,
        "overexposed": False,
        "noisy": False,
        "sharpness": 0.8,
        "brightness": 0.45,
    },
    "safety": {"adult": 0.01, "racy": 0.02, "verdict": "ok"},
    "suggested_filename": "Astronaut Portrait Orange Suit",
    "language": "en",
}


def openai_ok(data: dict[str, Any] | str = VALID) -> dict[str, Any]:
    content = data if isinstance(data, str) else json.dumps(data)
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500},
    }


def anthropic_ok(data: dict[str, Any] = VALID) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "record_image_metadata", "input": data}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1500, "output_tokens": 400},
    }


def gemini_ok(data: dict[str, Any] = VALID) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": json.dumps(data)}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 800, "candidatesTokenCount": 250},
        "modelVersion": "gemini-test",
    }


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


class FakeAPI:
    """Serves queued replies in order; an empty queue answers 500."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with api._lock:
                    api.seen.append(
                        Seen(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            json.loads(raw or b"null"),
                        )
                    )
                    reply = api.replies.pop(0) if api.replies else Reply(500, {"error": "empty"})
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
