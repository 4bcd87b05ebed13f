"""Remote adapters against a local server speaking each wire format: success, 429, 5xx,
timeouts, bad answers, the circuit breaker and the fallback to the (real) local provider."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from PIL import Image

from services.vision.providers import get_provider
from services.vision.providers.anthropic import AnthropicProvider
from services.vision.providers.gemini import GeminiProvider
from services.vision.providers.openai_compat import OpenAICompatProvider
from services.vision.providers.remote import RemoteProvider
from services.vision.providers.resilience import RemoteError
from services.vision.tests.fake_api import (
    VALID,
    FakeAPI,
    Reply,
    anthropic_ok,
    gemini_ok,
    openai_ok,
)
from services.vision.tests.images import astronaut

KEY = "sk-test-SECRET-0123456789"

ADAPTERS: dict[str, tuple[type[RemoteProvider], Callable[..., dict[str, Any]]]] = {
    "openai": (OpenAICompatProvider, openai_ok),
    "anthropic": (AnthropicProvider, anthropic_ok),
    "gemini": (GeminiProvider, gemini_ok),
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    server = FakeAPI()
    yield server
    server.close()


@pytest.fixture(scope="module")
def image() -> Image.Image:
    img = astronaut().resize((256, 256))
    img.info = {}
    return img


def make(
    name: str,
    api: FakeAPI,
    clock: Clock | None = None,
    sleeps: list[float] | None = None,
    **extra: str,
) -> RemoteProvider:
    cls, _ = ADAPTERS[name]
    prefix = f"VISION_{name.upper()}_"
    settings = {
        f"{prefix}BASE_URL": api.url,
        f"{prefix}API_KEY": KEY,
        f"{prefix}MODEL": "test-model",
        f"{prefix}PRICE_INPUT_PER_MTOK": "2.5",
        f"{prefix}PRICE_OUTPUT_PER_MTOK": "10",
        "VISION_TIMEOUT_S": "0.5",
        "VISION_RETRIES": "3",
        "VISION_BREAKER_FAILURES": "2",
        "VISION_BREAKER_RESET_S": "30",
        **extra,
    }
    sink = sleeps if sleeps is not None else []
    return cls(settings, clock=clock or Clock(), sleep=sink.append)


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_structured_answer_maps_to_metadata_with_usage(
    name: str, api: FakeAPI, image: Image.Image
) -> None:
    api.queue(Reply(200, ADAPTERS[name][1]()))
    meta = make(name, api).analyze(image, language="en")
    assert meta.provider == name and meta.model.endswith("test")
    assert meta.alt_text == VALID["alt_text"] and meta.kind == "photo"
    assert [t.label for t in meta.tags] == ["astronaut", "portrait"]
    assert meta.detected_text[0].text == "NASA" and meta.detected_text[0].box.width == 40
    assert meta.faces.count == 1 and meta.faces.boxes[0].x == 100
    assert meta.colors[0].hex == "#e05a1b"
    assert meta.safety.verdict == "ok"
    assert meta.suggested_filename == "astronaut-portrait-orange-suit"
    assert (meta.width, meta.height) == (256, 256) and meta.ms >= 0
    tokens_in, tokens_out = meta.usage.input_tokens, meta.usage.output_tokens
    assert tokens_in > 0 and tokens_out > 0
    assert meta.usage.cost_usd == pytest.approx((tokens_in * 2.5 + tokens_out * 10) / 1e6)


def test_openai_request_uses_strict_json_schema_and_no_store(
    api: FakeAPI, image: Image.Image
) -> None:
    api.queue(Reply(200, openai_ok()))
    make("openai", api).analyze(image)
    seen = api.seen[0]
    assert seen.path == "/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    body = seen.body
    assert body["store"] is False and body["model"] == "test-model"
    schema = body["response_format"]["json_schema"]
    assert body["response_format"]["type"] == "json_schema" and schema["strict"] is True
    assert set(schema["schema"]["required"]) >= {"alt_text", "safety", "detected_text"}
    parts = body["messages"][1]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_azure_openai_uses_deployment_url_and_api_key_header(
    api: FakeAPI, image: Image.Image
) -> None:
    api.queue(Reply(200, openai_ok()))
    make("openai", api, VISION_OPENAI_API_VERSION="2024-10-21").analyze(image)
    seen = api.seen[0]
    assert seen.path == "/openai/deployments/test-model/chat/completions?api-version=2024-10-21"
    assert seen.headers["api-key"] == KEY and "authorization" not in seen.headers


def test_anthropic_request_forces_the_metadata_tool(api: FakeAPI, image: Image.Image) -> None:
    api.queue(Reply(200, anthropic_ok()))
    make("anthropic", api).analyze(image)
    seen = api.seen[0]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == KEY and seen.headers["anthropic-version"]
    assert seen.body["tool_choice"] == {"type": "tool", "name": "record_image_metadata"}
    assert seen.body["tools"][0]["input_schema"]["properties"]["kind"]["enum"]
    assert seen.body["messages"][0]["content"][0]["source"]["media_type"] == "image/jpeg"


def test_gemini_request_sets_json_response_schema(api: FakeAPI, image: Image.Image) -> None:
    api.queue(Reply(200, gemini_ok()))
    make("gemini", api).analyze(image)
    seen = api.seen[0]
    assert seen.path == "/models/test-model:generateContent"
    assert seen.headers["x-goog-api-key"] == KEY
    config = seen.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["type"] == "OBJECT"
    assert "additionalProperties" not in str(config["responseSchema"])


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_rate_limit_is_retried_after_the_advertised_delay(
    name: str, api: FakeAPI, image: Image.Image
) -> None:
    api.queue(
        Reply(429, {"error": "slow down"}, {"Retry-After": "2"}), Reply(200, ADAPTERS[name][1]())
    )
    sleeps: list[float] = []
    meta = make(name, api, sleeps=sleeps).analyze(image)
    assert meta.provider == name
    assert len(api.seen) == 2 and sleeps == [2.0]


def test_timeout_is_retried(api: FakeAPI, image: Image.Image) -> None:
    api.queue(Reply(200, openai_ok(), delay_s=2.0), Reply(200, openai_ok()))
    sleeps: list[float] = []
    meta = make("openai", api, sleeps=sleeps).analyze(image)
    assert meta.provider == "openai" and len(api.seen) == 2 and len(sleeps) == 1


def test_malformed_answer_is_retried(api: FakeAPI, image: Image.Image) -> None:
    api.queue(Reply(200, openai_ok("this is not json")), Reply(200, openai_ok()))
    assert make("openai", api).analyze(image).provider == "openai"
    assert len(api.seen) == 2


def test_persistent_server_errors_fall_back_to_local(api: FakeAPI, image: Image.Image) -> None:
    api.queue(Reply(500, {}), Reply(503, {}), Reply(502, {}))
    sleeps: list[float] = []
    meta = make("gemini", api, sleeps=sleeps).analyze(image)
    assert meta.provider == "local" and meta.alt_text and meta.ms > 0
    assert len(api.seen) == 3 and len(sleeps) == 2
    assert all(0 < s <= 8.0 for s in sleeps)


def test_client_errors_are_not_retried(api: FakeAPI, image: Image.Image) -> None:
    api.queue(Reply(400, {"error": "bad request"}))
    meta = make("anthropic", api).analyze(image)
    assert meta.provider == "local" and len(api.seen) == 1


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        (
            "openai",
            {**openai_ok(), "choices": [{"message": {"content": "{"}, "finish_reason": "length"}]},
        ),
        ("anthropic", {**anthropic_ok(), "stop_reason": "max_tokens"}),
        (
            "gemini",
            {"candidates": [{"content": {"parts": [{"text": "{"}]}, "finishReason": "MAX_TOKENS"}]},
        ),
    ],
)
def test_truncated_answers_are_not_retried(
    name: str, payload: dict[str, Any], api: FakeAPI, image: Image.Image
) -> None:
    api.queue(Reply(200, payload))
    assert make(name, api).analyze(image).provider == "local"
    assert len(api.seen) == 1


def test_reasoning_model_settings_change_the_openai_body(api: FakeAPI, image: Image.Image) -> None:
    api.queue(Reply(200, openai_ok()))
    make(
        "openai",
        api,
        VISION_OPENAI_TOKEN_PARAM="max_completion_tokens",
        VISION_OPENAI_TEMPERATURE="",
    ).analyze(image)
    body = api.seen[0].body
    assert "max_completion_tokens" in body and "max_tokens" not in body
    assert "temperature" not in body


def test_gemini_safety_block_is_not_retried(api: FakeAPI, image: Image.Image) -> None:
    api.queue(Reply(200, {"promptFeedback": {"blockReason": "SAFETY"}}))
    assert make("gemini", api).analyze(image).provider == "local"
    assert len(api.seen) == 1


def test_breaker_opens_skips_the_api_and_recovers(api: FakeAPI, image: Image.Image) -> None:
    clock = Clock()
    provider = make("openai", api, clock=clock, VISION_RETRIES="1")
    api.queue(Reply(500, {}), Reply(500, {}))
    assert provider.analyze(image).provider == "local"
    assert provider.analyze(image).provider == "local"
    assert provider.breaker.state == "open"
    assert provider.analyze(image).provider == "local"
    assert len(api.seen) == 2  # open: no call went out

    clock.now += 31
    assert provider.breaker.state == "half_open"
    api.queue(Reply(200, openai_ok()))
    assert provider.analyze(image).provider == "openai"
    assert provider.breaker.state == "closed" and len(api.seen) == 3


def test_failed_trial_call_reopens_the_breaker(api: FakeAPI, image: Image.Image) -> None:
    clock = Clock()
    provider = make("openai", api, clock=clock, VISION_RETRIES="1", VISION_BREAKER_FAILURES="1")
    api.queue(Reply(503, {}))
    provider.analyze(image)
    clock.now += 31
    api.queue(Reply(503, {}))
    provider.analyze(image)
    assert provider.breaker.state == "open" and len(api.seen) == 2


def test_fallback_none_raises_instead(api: FakeAPI, image: Image.Image) -> None:
    api.queue(Reply(401, {"error": "bad key"}))
    with pytest.raises(RemoteError, match="http_401"):
        make("openai", api, VISION_FALLBACK="none").analyze(image)


def test_api_key_and_text_content_never_reach_the_logs(api: FakeAPI, image: Image.Image) -> None:
    api.queue(Reply(429, {}, {"Retry-After": "0"}), Reply(200, openai_ok()), Reply(500, {}))
    with structlog.testing.capture_logs() as logs:
        provider = make("openai", api, VISION_RETRIES="2")
        provider.analyze(image)
        provider.analyze(image)
    dump = repr(logs)
    assert KEY not in dump and "NASA" not in dump and VALID["alt_text"] not in dump
    assert {"vision_remote_retry", "vision_analyzed", "vision_fallback"} <= {
        entry["event"] for entry in logs
    }


@pytest.mark.parametrize("name", ["anthropic", "gemini", "openai"])
def test_missing_api_key_or_model_is_a_configuration_error(name: str) -> None:
    prefix = f"VISION_{name.upper()}_"
    with pytest.raises(ValueError, match="API_KEY"):
        get_provider(name, {f"{prefix}MODEL": "some-model"})
    with pytest.raises(ValueError, match="MODEL"):
        get_provider(name, {f"{prefix}API_KEY": "k"})


def test_self_hosted_openai_compatible_server_needs_no_key(
    api: FakeAPI, image: Image.Image
) -> None:
    api.queue(Reply(200, openai_ok()))
    provider = get_provider(
        "ollama", {"VISION_OPENAI_BASE_URL": api.url + "/v1", "VISION_OPENAI_MODEL": "llava"}
    )
    assert provider.analyze(image).provider == "openai"
    assert api.seen[0].path == "/v1/chat/completions"
    assert "authorization" not in api.seen[0].headers
