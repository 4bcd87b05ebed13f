"""The safety policy's decision and the per-job provider choice."""

from __future__ import annotations

import pytest

from picopt.kernel.settings import SettingsError
from picopt.vision.v1 import vision_pb2
from services.vision.provider_choice import ProviderChoice
from services.vision.safety_policy import SafetyPolicy


def _meta(adult: float, verdict: str) -> vision_pb2.ImageMetadata:
    return vision_pb2.ImageMetadata(safety=vision_pb2.Safety(adult=adult, verdict=verdict))


@pytest.mark.parametrize(
    ("policy", "expected"), [("flag", ""), ("blur", "blur"), ("refuse", "refuse")]
)
def test_a_blocked_image_gets_the_policy_action(policy: str, expected: str) -> None:
    rule = SafetyPolicy.from_settings({"VISION_SAFETY_POLICY": policy})
    meta = _meta(0.95, "blocked")
    assert rule.action(meta) == expected
    assert meta.safety.verdict == "blocked"


def test_flagged_and_ok_images_are_only_marked() -> None:
    rule = SafetyPolicy("refuse", 0.85)
    assert rule.action(_meta(0.5, "flagged")) == ""
    assert rule.action(_meta(0.01, "ok")) == ""


def test_a_remote_score_above_the_line_is_blocked_whatever_its_verdict() -> None:
    meta = _meta(0.9, "flagged")
    assert SafetyPolicy("refuse", 0.85).action(meta) == "refuse"
    assert meta.safety.verdict == "blocked"


def test_metadata_without_a_safety_check_is_never_acted_on() -> None:
    assert SafetyPolicy("refuse", 0.0001).action(vision_pb2.ImageMetadata()) == ""


@pytest.mark.parametrize(
    "settings",
    [
        {"VISION_SAFETY_POLICY": "delete"},
        {"VISION_NSFW_BLOCK_AT": "high"},
        {"VISION_NSFW_BLOCK_AT": "0"},
        {"VISION_NSFW_BLOCK_AT": "1.5"},
    ],
)
def test_bad_policy_settings_stop_the_service(settings: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        SafetyPolicy.from_settings(settings)


REMOTE = {
    "VISION_ALLOWED_PROVIDERS": "local,azure",
    "VISION_OPENAI_BASE_URL": "http://127.0.0.1:9",
    "VISION_OPENAI_MODEL": "test-model",
}


def test_a_job_gets_the_provider_it_asked_for_when_allowed() -> None:
    choice = ProviderChoice(REMOTE)
    assert choice.enabled == ("local", "openai")
    assert choice.resolve("ollama").name == "openai"
    assert choice.resolve("").name == "local"


def test_a_provider_outside_the_allowed_list_falls_back_to_the_default() -> None:
    choice = ProviderChoice(REMOTE)
    assert choice.resolve("anthropic").name == "local"
    assert choice.resolve("no-such-provider").name == "local"
