"""Google Gemini generateContent with inline image data.

Structured output uses `responseMimeType: application/json` with a `responseSchema` (the
metadata schema without `additionalProperties`, which Gemini's OpenAPI subset lacks). The
API has no per-request retention flag; paid-tier prompts are not used for training. A prompt
or answer blocked by Gemini's own safety filters is not retried (the breaker and fallback
handle it).
"""

from __future__ import annotations

from typing import Any

from services.vision.providers.remote import Answer, RemoteProvider, Request, json_answer, token
from services.vision.providers.resilience import RemoteError
from services.vision.providers.schema import gemini_schema, prompt


class GeminiProvider(RemoteProvider):
    name = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"

    def build_request(self, image_b64: str, width: int, height: int, language: str) -> Request:
        headers = {"Content-Type": "application/json", "x-goog-api-key": self._api_key}
        body = {
            "systemInstruction": {
                "parts": [{"text": "You are an image analysis service. Answer with JSON only."}]
            },
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"inline_data": {"mime_type": "image/jpeg", "data": image_b64}},
                        {"text": prompt(width, height, language)},
                    ],
                }
            ],
            "generationConfig": {
                "temperature": 0,
                "maxOutputTokens": int(self.setting("MAX_TOKENS", "4096")),
                "responseMimeType": "application/json",
                "responseSchema": gemini_schema(),
            },
        }
        return Request(f"{self.base_url}/models/{self.model}:generateContent", headers, body)

    def parse_answer(self, payload: Any) -> Answer:
        if not isinstance(payload, dict):
            raise RemoteError("bad_output", retryable=True)
        if (payload.get("promptFeedback") or {}).get("blockReason"):
            raise RemoteError("blocked", retryable=False)
        candidates = payload.get("candidates") or []
        if not candidates:
            raise RemoteError("bad_output", retryable=True)
        candidate = candidates[0]
        if candidate.get("finishReason") in ("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST"):
            raise RemoteError("blocked", retryable=False)
        if candidate.get("finishReason") == "MAX_TOKENS":
            raise RemoteError("truncated", retryable=False)  # thinking can use the budget
        parts = (candidate.get("content") or {}).get("parts") or []
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
        usage = payload.get("usageMetadata") or {}
        return Answer(
            data=json_answer(text),
            input_tokens=token(usage.get("promptTokenCount")),
            output_tokens=token(usage.get("candidatesTokenCount")),
            model=str(payload.get("modelVersion") or self.model),
        )
