"""Common machinery of the HTTP vision adapters: settings, retries, breaker, fallback, usage.

Each adapter (OpenAI-compatible, Anthropic, Gemini) only says how to build its request and
read its answer; everything that must behave the same across APIs lives here. Settings come
from the mapping given to `get_provider` (default os.environ): VISION_<NAME>_BASE_URL,
_API_KEY, _MODEL, _PRICE_INPUT_PER_MTOK, _PRICE_OUTPUT_PER_MTOK, plus the shared
VISION_TIMEOUT_S, VISION_RETRIES, VISION_RETRY_BASE_S, VISION_RETRY_MAX_S,
VISION_BREAKER_FAILURES, VISION_BREAKER_RESET_S, VISION_REMOTE_MAX_SIDE and VISION_FALLBACK
("local" or "none"). API keys are only ever put in request headers, never logged.
"""

from __future__ import annotations

import abc
import base64
import io
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import structlog
from PIL import Image

from picopt.vision.v1 import vision_pb2
from services.vision.providers.resilience import (
    RETRYABLE_STATUS,
    CircuitBreaker,
    RemoteError,
    RetryPolicy,
    parse_retry_after,
)
from services.vision.providers.schema import to_metadata

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Answer:
    """What an adapter extracts from a successful response."""

    data: Any
    input_tokens: int
    output_tokens: int
    model: str


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict[str, str]
    body: dict[str, Any]


class RemoteProvider(abc.ABC):
    """Base of the HTTP adapters; subclasses set `name`, defaults and the wire format."""

    name = "remote"
    default_base_url = ""
    needs_api_key = True

    def __init__(
        self,
        settings: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings: Mapping[str, str] = settings or {}
        # No default model: model names are retired often, and a stale default would turn
        # every job into a 404 and a silent fallback.
        self.model = self.setting("MODEL")
        self.base_url = self.setting("BASE_URL", self.default_base_url).rstrip("/")
        self._api_key = self.setting("API_KEY", "")
        if self.needs_api_key and not self._api_key:
            raise ValueError(f"VISION_{self.name.upper()}_API_KEY is not set")
        for suffix, value in (("MODEL", self.model), ("BASE_URL", self.base_url)):
            if not value:
                raise ValueError(f"VISION_{self.name.upper()}_{suffix} is not set")
        self.timeout_s = self._float("VISION_TIMEOUT_S", 30.0)
        self.retry = RetryPolicy(
            attempts=max(1, int(self._float("VISION_RETRIES", 3))),
            base_s=self._float("VISION_RETRY_BASE_S", 0.5),
            max_s=self._float("VISION_RETRY_MAX_S", 8.0),
        )
        self.breaker = CircuitBreaker(
            threshold=int(self._float("VISION_BREAKER_FAILURES", 5)),
            reset_s=self._float("VISION_BREAKER_RESET_S", 60.0),
            clock=clock,
        )
        self.max_side = int(self._float("VISION_REMOTE_MAX_SIDE", 1024))
        self.price_in = float(self.setting("PRICE_INPUT_PER_MTOK", "0") or 0)
        self.price_out = float(self.setting("PRICE_OUTPUT_PER_MTOK", "0") or 0)
        self.fallback = self._settings.get("VISION_FALLBACK", "local") or "local"
        self._sleep = sleep
        self._session = requests.Session()

    # settings -----------------------------------------------------------------------------
    def setting(self, suffix: str, default: str = "") -> str:
        value = self._settings.get(f"VISION_{self.name.upper()}_{suffix}")
        return value if value not in (None, "") else default

    def _float(self, key: str, default: float) -> float:
        value = self._settings.get(key)
        return float(value) if value not in (None, "") else default

    # wire format, implemented by each adapter ---------------------------------------------
    @abc.abstractmethod
    def build_request(self, image_b64: str, width: int, height: int, language: str) -> Request:
        """The HTTP request for one JPEG image (base64) of the given size."""

    @abc.abstractmethod
    def parse_answer(self, payload: Any) -> Answer:
        """Pull the structured answer and token usage out of a 2xx JSON response."""

    # the job ------------------------------------------------------------------------------
    def analyze(self, image: Image.Image, language: str = "en") -> vision_pb2.ImageMetadata:
        started = time.perf_counter()
        if not self.breaker.allow():
            return self._fall_back(image, language, "circuit_open", started)
        sent = image.copy()
        sent.thumbnail((self.max_side, self.max_side))
        try:
            answer, meta = self._call_with_retries(sent, language)
        except RemoteError as exc:
            if self.breaker.record_failure():
                log.warning("vision_breaker_open", provider=self.name, reason=exc.reason)
            return self._fall_back(image, language, exc.reason, started)
        self.breaker.record_success()
        self._scale_boxes(meta, image.width / sent.width, image.height / sent.height)
        meta.width, meta.height = image.width, image.height
        meta.provider = self.name
        meta.model = answer.model or self.model
        meta.usage.input_tokens = answer.input_tokens
        meta.usage.output_tokens = answer.output_tokens
        meta.usage.cost_usd = round(
            (answer.input_tokens * self.price_in + answer.output_tokens * self.price_out) / 1e6, 6
        )
        meta.ms = round((time.perf_counter() - started) * 1000)
        log.info(
            "vision_analyzed",
            provider=self.name,
            model=meta.model,
            kind=meta.kind,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            cost_usd=meta.usage.cost_usd,
            ms=meta.ms,
        )
        return meta

    def _call_with_retries(
        self, image: Image.Image, language: str
    ) -> tuple[Answer, vision_pb2.ImageMetadata]:
        buf = io.BytesIO()
        image.convert("RGB").save(buf, "JPEG", quality=85)
        request = self.build_request(
            base64.b64encode(buf.getvalue()).decode("ascii"), image.width, image.height, language
        )
        for attempt in range(1, self.retry.attempts + 1):
            try:
                answer = self.parse_answer(self._post(request, attempt))
                try:
                    meta = to_metadata(answer.data, image.width, image.height, language)
                except ValueError as exc:
                    raise RemoteError("bad_output", retryable=True) from exc
                return answer, meta
            except RemoteError as exc:
                if not exc.retryable or attempt >= self.retry.attempts:
                    raise
                delay = self.retry.delay(attempt, exc.retry_after)
                log.info(
                    "vision_remote_retry",
                    provider=self.name,
                    attempt=attempt,
                    reason=exc.reason,
                    status=exc.status,
                    delay_s=round(delay, 3),
                )
                self._sleep(delay)
        raise RemoteError("no_attempts", retryable=False)

    def _post(self, request: Request, attempt: int) -> Any:
        started = time.perf_counter()
        try:
            response = self._session.post(
                request.url, headers=request.headers, json=request.body, timeout=self.timeout_s
            )
        except requests.Timeout as exc:
            raise RemoteError("timeout", retryable=True) from exc
        except requests.RequestException as exc:
            raise RemoteError("connection", retryable=True) from exc
        log.info(
            "vision_remote_response",
            provider=self.name,
            attempt=attempt,
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000),
        )
        if response.status_code >= 400:
            raise RemoteError(
                f"http_{response.status_code}",
                retryable=response.status_code in RETRYABLE_STATUS,
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        try:
            return response.json()
        except ValueError as exc:
            raise RemoteError("bad_json", retryable=True, status=response.status_code) from exc

    @staticmethod
    def _scale_boxes(meta: vision_pb2.ImageMetadata, sx: float, sy: float) -> None:
        """Boxes come in the pixels of the (possibly smaller) image that was sent."""
        if abs(sx - 1) < 1e-6 and abs(sy - 1) < 1e-6:
            return
        boxes = [t.box for t in meta.detected_text] + list(meta.faces.boxes)
        for box in boxes:
            box.x, box.width = round(box.x * sx), round(box.width * sx)
            box.y, box.height = round(box.y * sy), round(box.height * sy)

    def _fall_back(
        self, image: Image.Image, language: str, reason: str, started: float
    ) -> vision_pb2.ImageMetadata:
        log.warning("vision_fallback", provider=self.name, reason=reason, to=self.fallback)
        if self.fallback == "none":
            raise RemoteError(reason, retryable=False)
        from services.vision.providers import get_provider

        meta = get_provider(self.fallback, self._settings).analyze(image, language)
        meta.ms = round((time.perf_counter() - started) * 1000)
        return meta


def json_answer(text: Any) -> Any:
    """Parse a JSON document that a model returned as text (tolerating a ``` fence)."""
    if not isinstance(text, str):
        raise RemoteError("bad_output", retryable=True)
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        return json.loads(body)
    except ValueError as exc:
        raise RemoteError("bad_output", retryable=True) from exc


def token(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
