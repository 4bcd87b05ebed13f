"""Vision providers: one module per backend behind one interface (thumbor-style plug-ins).

The service calls `get_provider(name).analyze(prepare_image(blob))` and gets a filled
`ImageMetadata`. Providers are built once per configuration and reused, because the local
models take a second to load.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from PIL import Image

from picopt.vision.v1 import vision_pb2
from picopt.vision_providers import ALIASES as _ALIASES
from picopt.vision_providers import UnknownProviderError
from services.vision.providers.imaging import UnreadableImageError, prepare_image

__all__ = [
    "PROVIDERS",
    "Provider",
    "UnknownProviderError",
    "UnreadableImageError",
    "get_provider",
    "prepare_image",
]


@runtime_checkable
class Provider(Protocol):
    """Turns a prepared image into metadata; must set provider, model, ms, width and height."""

    name: str

    def analyze(self, image: Image.Image, language: str = "en") -> vision_pb2.ImageMetadata: ...


# name -> "module:Class"; imported on first use so `local` never loads HTTP code and back.
PROVIDERS: dict[str, str] = {
    "local": "services.vision.providers.local:LocalProvider",
    "openai": "services.vision.providers.openai_compat:OpenAICompatProvider",
    "anthropic": "services.vision.providers.anthropic:AnthropicProvider",
    "gemini": "services.vision.providers.gemini:GeminiProvider",
}

_cache: dict[tuple[str, tuple[tuple[str, str], ...]], Provider] = {}
_cache_lock = threading.Lock()


# Settings that shape the local provider; remote adapters read every other VISION_ key.
_LOCAL_PREFIXES = ("VISION_LOCAL_", "VISION_NSFW_")


def _vision_settings(key: str, settings: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The configuration that shapes a provider (VISION_PROVIDER only selects one)."""
    return tuple(
        sorted(
            (k, str(v))
            for k, v in settings.items()
            if k.startswith("VISION_")
            and k != "VISION_PROVIDER"
            and (key != "local" or k.startswith(_LOCAL_PREFIXES))
        )
    )


def get_provider(name: str = "local", settings: Mapping[str, str] | None = None) -> Provider:
    """Return the shared provider for `name` ("" means VISION_PROVIDER, then "local")."""
    settings = os.environ if settings is None else settings
    key = (name or settings.get("VISION_PROVIDER") or "local").strip().lower()
    key = _ALIASES.get(key, key)
    if key not in PROVIDERS:
        raise UnknownProviderError(f"unknown vision provider {key!r}; known: {sorted(PROVIDERS)}")
    cache_key = (key, _vision_settings(key, settings))
    with _cache_lock:
        provider = _cache.get(cache_key)
        if provider is None:
            module_name, _, class_name = PROVIDERS[key].partition(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            provider = cls(settings)
            _cache[cache_key] = provider
        return provider
