"""Job form fields: the vision provider and language, enlarge."""

from __future__ import annotations

import pytest

from services.gateway.job_options import parse_options, with_account_preferences
from services.gateway.problems import Problem

ALLOWING_OPENAI = {"VISION_PROVIDER": "local", "VISION_ALLOWED_PROVIDERS": "local,openai"}


def test_an_allowed_provider_and_a_language_travel_with_the_job() -> None:
    options = parse_options({"vision_provider": "Azure", "language": "pt-BR"}, "", ALLOWING_OPENAI)
    assert (options.vision_provider, options.language) == ("openai", "pt-BR")


def test_no_choice_keeps_the_deployment_default() -> None:
    options = parse_options({}, "", {})
    assert (options.vision_provider, options.language) == ("", "")


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "skynet"])
def test_a_provider_the_deployment_does_not_allow_is_a_400(provider: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_options({"vision_provider": provider}, "", ALLOWING_OPENAI)
    assert caught.value.status == 400
    assert caught.value.extra == {"field": "vision_provider"}
    assert "local, openai" in caught.value.detail


def test_the_default_provider_alone_is_allowed_without_a_list() -> None:
    assert parse_options({"vision_provider": "local"}, "", {}).vision_provider == "local"
    with pytest.raises(Problem):
        parse_options({"vision_provider": "openai"}, "", {})


@pytest.mark.parametrize("language", ["english!", "e", "en_US", "x" * 40, "de-" + "a" * 9])
def test_a_malformed_language_is_a_400(language: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_options({"language": language}, "", {})
    assert caught.value.status == 400


def test_the_account_preferences_fill_what_the_job_leaves_empty() -> None:
    options = with_account_preferences(parse_options({}, "", {}), "openai", "de", ALLOWING_OPENAI)
    assert (options.vision_provider, options.language) == ("openai", "de")


def test_the_job_choice_wins_over_the_account_preferences() -> None:
    chosen = parse_options({"vision_provider": "local", "language": "fr"}, "", ALLOWING_OPENAI)
    options = with_account_preferences(chosen, "openai", "de", ALLOWING_OPENAI)
    assert (options.vision_provider, options.language) == ("local", "fr")


def test_a_preferred_provider_the_deployment_no_longer_enables_is_skipped() -> None:
    options = with_account_preferences(parse_options({}, "", {}), "anthropic", "de", {})
    assert (options.vision_provider, options.language) == ("", "de")


def test_the_effort_is_balanced_unless_asked() -> None:
    assert parse_options({}, "", {}).effort == "balanced"
    assert parse_options({"effort": " Fast "}, "", {}).effort == "fast"
    assert parse_options({"effort": "max"}, "", {}).effort == "max"


def test_an_unknown_effort_is_a_400() -> None:
    with pytest.raises(Problem) as caught:
        parse_options({"effort": "slow"}, "", {})
    assert caught.value.status == 400
    assert caught.value.extra == {"field": "effort"}


def test_enlarge_is_off_unless_asked_and_must_be_a_boolean() -> None:
    assert parse_options({}, "", {}).enlarge is False
    assert parse_options({"enlarge": "true"}, "", {}).enlarge is True
    with pytest.raises(Problem) as caught:
        parse_options({"enlarge": "bigger"}, "", {})
    assert caught.value.status == 400 and caught.value.extra == {"field": "enlarge"}
