"""The provider catalog: names, aliases, what a deployment enables, what leaves the machine."""

from __future__ import annotations

import pytest

from picopt.vision_providers import (
    UnknownProviderError,
    canonical,
    enabled_providers,
    is_language_tag,
    sends_images_off_machine,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Azure", "openai"), ("vllm", "openai"), (" ollama ", "openai"), ("claude", "anthropic")],
)
def test_aliases_resolve_to_their_adapter(name: str, expected: str) -> None:
    assert canonical(name) == expected


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(UnknownProviderError, match="known: \\['anthropic', 'gemini'"):
        canonical("skynet")


def test_only_the_local_provider_keeps_images_on_the_machine() -> None:
    assert not sends_images_off_machine("local")
    assert all(sends_images_off_machine(n) for n in ("openai", "azure", "claude", "gemini"))


def test_enabled_providers_put_the_default_first_without_repeats() -> None:
    assert enabled_providers({}) == ("local",)
    settings = {"VISION_PROVIDER": "claude", "VISION_ALLOWED_PROVIDERS": "local, anthropic,vllm"}
    assert enabled_providers(settings) == ("anthropic", "local", "openai")


def test_a_misspelt_allowed_provider_is_a_configuration_error() -> None:
    with pytest.raises(UnknownProviderError):
        enabled_providers({"VISION_ALLOWED_PROVIDERS": "local,opnai"})


@pytest.mark.parametrize("tag", ["en", "pt-BR", "zh-Hant-TW", "gsw"])
def test_language_tags_clients_send_are_accepted(tag: str) -> None:
    assert is_language_tag(tag)


@pytest.mark.parametrize("tag", ["", "e", "english!", "en_US", "x" * 36, "en-" + "a" * 9])
def test_malformed_language_tags_are_refused(tag: str) -> None:
    assert not is_language_tag(tag)
