"""Anthropic Messages API with image input.

Structured output is a forced tool call: the tool's input_schema is the metadata schema and
`tool_choice` names it, so the answer arrives as a JSON object in a `tool_use` block. The
Messages API has no per-request retention switch (API data is not used for training;
zero-retention is an organisation agreement), so there is nothing to set per call.
"""

from __future__ import annotations

from typing import Any

from services.vision.providers.remote import Answer, RemoteProvider, Request, token
from services.vision.providers.resilience import RemoteError
from services.vision.providers.schema import SCHEMA, prompt

TOOL = "record_image_metadata"
API_VERSION = "2023-06-01"


class AnthropicProvider(RemoteProvider):
    name = "anthropic"
    default_base_url = "https://api.anthropic.com"

    def build_request(self, image_b64: str, width: int, height: int, language: str) -> Request:
        headers = {
            "Content-Type": "application/json",
            "x-api-key": self._api_key,
            "anthropic-version": API_VERSION,
        }
        body = {
            "model": self.model,
            "max_tokens": int(self.setting("MAX_TOKENS", "2000")),
            "temperature": 0,
            "system": "You are an image analysis service. Record your analysis with the tool.",
            "tools": [
                {
                    "name": TOOL,
                    "description": "Record the metadata of the image.",
                    "input_schema": SCHEMA,
                }
            ],
            "tool_choice": {"type": "tool", "name": TOOL},
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/jpeg",
                                "data": image_b64,
                            },
                        },
                        {"type": "text", "text": prompt(width, height, language)},
                    ],
                }
            ],
        }
        return Request(f"{self.base_url}/v1/messages", headers, body)

    def parse_answer(self, payload: Any) -> Answer:
        if isinstance(payload, dict) and payload.get("stop_reason") == "max_tokens":
            raise RemoteError("truncated", retryable=False)  # the tool input may be partial
        blocks = payload.get("content") if isinstance(payload, dict) else None
        for block in blocks or []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                usage = payload.get("usage") or {}
                return Answer(
                    data=block.get("input"),
                    input_tokens=token(usage.get("input_tokens")),
                    output_tokens=token(usage.get("output_tokens")),
                    model=str(payload.get("model") or self.model),
                )
        if isinstance(payload, dict) and payload.get("stop_reason") == "refusal":
            raise RemoteError("refused", retryable=False)
        raise RemoteError("bad_output", retryable=True)
