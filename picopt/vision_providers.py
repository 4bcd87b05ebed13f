"""Which vision providers exist, what they are called, and which ones a deployment enables.

One source of truth for vision (which provider a job may use), the gateway (which choice a user
may submit), auth (which names an account may store) and the privacy facts (which providers send
images off this machine). Standard library only, so none of them loads an image library for it;
the adapters themselves live in `services.vision.providers`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

LOCAL = "local"
# Adapters that send a copy of the image over HTTP to an AI API.
REMOTE = ("openai", "anthropic", "gemini")
KNOWN = (LOCAL, *REMOTE)
ALIASES = {"azure": "openai", "vllm": "openai", "ollama": "openai", "claude": "anthropic"}
# A BCP 47 tag as clients send them ("en", "pt-BR", "zh-Hant-TW"); 35 characters is the RFC's
# practical maximum.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
MAX_LANGUAGE = 35


class UnknownProviderError(ValueError):
    """The configured provider name is not registered."""


def canonical(name: str) -> str:
    """The registered name behind `name` ("Claude" -> "anthropic"); raises for unknown names."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in KNOWN:
        raise UnknownProviderError(f"unknown vision provider {key!r}; known: {sorted(KNOWN)}")
    return key


def sends_images_off_machine(name: str) -> bool:
    """True for every HTTP adapter (even a self-hosted server gets a copy of the image)."""
    return canonical(name) != LOCAL


def default_provider(settings: Mapping[str, str]) -> str:
    """VISION_PROVIDER, or the embedded local provider when it is unset."""
    return canonical(settings.get("VISION_PROVIDER") or LOCAL)


def enabled_providers(settings: Mapping[str, str]) -> tuple[str, ...]:
    """The default provider first, then each VISION_ALLOWED_PROVIDERS entry, without repeats."""
    names = [default_provider(settings)]
    for raw in (settings.get("VISION_ALLOWED_PROVIDERS") or "").split(","):
        if raw.strip() and (name := canonical(raw)) not in names:
            names.append(name)
    return tuple(names)


def is_language_tag(tag: str) -> bool:
    """Whether `tag` looks like a BCP 47 language tag, the form every provider is asked in."""
    return len(tag) <= MAX_LANGUAGE and _LANGUAGE_TAG.fullmatch(tag) is not None
