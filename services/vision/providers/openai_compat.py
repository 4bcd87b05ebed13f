"""OpenAI-compatible Chat Completions with image input: OpenAI, Azure OpenAI, vLLM, Ollama.

Structured output uses `response_format: json_schema` (strict). `store: false` keeps OpenAI
from retaining the completion (set VISION_OPENAI_SEND_STORE=0 for servers that reject the
field). Azure is selected by VISION_OPENAI_API_VERSION: BASE_URL is then the resource
endpoint, MODEL the deployment name, and the key goes in the `api-key` header.
Reasoning models reject `max_tokens` and a fixed temperature: set
VISION_OPENAI_TOKEN_PARAM=max_completion_tokens and VISION_OPENAI_TEMPERATURE= (empty).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.vision.providers.remote import Answer, RemoteProvider, Request, json_answer, token
from services.vision.providers.resilience import RemoteError
from services.vision.providers.schema import SCHEMA, prompt

SYSTEM = "You are an image analysis service. Answer only with the requested JSON object."


class OpenAICompatProvider(RemoteProvider):
    name = "openai"
    default_base_url = "https://api.openai.com/v1"
    needs_api_key = False  # vLLM and Ollama usually run without one

    def __init__(self, settings: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        if self.base_url == self.default_base_url and not self._api_key:
            raise ValueError("VISION_OPENAI_API_KEY is not set (needed for api.openai.com)")

    def build_request(self, image_b64: str, width: int, height: int, language: str) -> Request:
        api_version = self.setting("API_VERSION")
        headers = {"Content-Type": "application/json"}
        if api_version:
            url = (
                f"{self.base_url}/openai/deployments/{self.model}/chat/completions"
                f"?api-version={api_version}"
            )
            if self._api_key:
                headers["api-key"] = self._api_key
        else:
            url = f"{self.base_url}/chat/completions"
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
        body: dict[str, Any] = {
            "model": self.model,
            self.setting("TOKEN_PARAM", "max_tokens"): int(self.setting("MAX_TOKENS", "2000")),
            "messages": [
                {"role": "system", "content": SYSTEM},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": prompt(width, height, language)},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/jpeg;base64,{image_b64}"},
                        },
                    ],
                },
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "image_metadata", "strict": True, "schema": SCHEMA},
            },
        }
        temperature = self._settings.get("VISION_OPENAI_TEMPERATURE", "0")
        if temperature not in (None, ""):
            body["temperature"] = float(temperature)
        if self.setting("SEND_STORE", "1") != "0":
            body["store"] = False
        return Request(url, headers, body)

    def parse_answer(self, payload: Any) -> Answer:
        try:
            choice = payload["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError) as exc:
            raise RemoteError("bad_output", retryable=True) from exc
        if message.get("refusal"):
            raise RemoteError("refused", retryable=False)
        if choice.get("finish_reason") == "length":
            raise RemoteError("truncated", retryable=False)  # same request, same cut-off
        usage = payload.get("usage") or {}
        return Answer(
            data=json_answer(message.get("content")),
            input_tokens=token(usage.get("prompt_tokens")),
            output_tokens=token(usage.get("completion_tokens")),
            model=str(payload.get("model") or self.model),
        )
