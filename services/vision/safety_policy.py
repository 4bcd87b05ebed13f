"""What the deployment does with an image the safety check blocks: flag, blur or refuse.

VISION_SAFETY_POLICY picks the action; VISION_NSFW_BLOCK_AT is the adult score from which an
image counts as blocked (the local provider uses the same setting for its verdict, so a remote
provider's score is held to the same line). Vision only decides; the processor, which owns the
results, blurs or refuses (see services/processor/analyzed.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from picopt.kernel.settings import SettingsError
from picopt.vision.v1 import vision_pb2

POLICIES = ("flag", "blur", "refuse")
DEFAULT_BLOCK_AT = 0.85


@dataclass(frozen=True)
class SafetyPolicy:
    policy: str = "flag"
    block_at: float = DEFAULT_BLOCK_AT

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> SafetyPolicy:
        policy = (settings.get("VISION_SAFETY_POLICY") or "flag").strip().lower()
        if policy not in POLICIES:
            raise SettingsError(f"VISION_SAFETY_POLICY must be one of {', '.join(POLICIES)}")
        raw = settings.get("VISION_NSFW_BLOCK_AT") or str(DEFAULT_BLOCK_AT)
        try:
            block_at = float(raw)
        except ValueError as exc:
            raise SettingsError(f"VISION_NSFW_BLOCK_AT must be a number, got {raw!r}") from exc
        if not 0.0 < block_at <= 1.0:
            raise SettingsError("VISION_NSFW_BLOCK_AT must be above 0 and at most 1")
        return cls(policy, block_at)

    def action(self, metadata: vision_pb2.ImageMetadata) -> str:
        """ "" (keep), "blur" or "refuse"; marks the verdict blocked when the score says so."""
        if not metadata.HasField("safety"):
            return ""  # nothing was analysed (image gone or unreadable)
        if metadata.safety.adult >= self.block_at:
            metadata.safety.verdict = "blocked"
        if metadata.safety.verdict != "blocked" or self.policy == "flag":
            return ""
        return self.policy
