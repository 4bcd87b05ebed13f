"""GetProviders states the providers this vision process runs, and which send images away."""

from __future__ import annotations

from picopt.vision.v1 import vision_pb2
from services.vision.grpc_api import VisionServicer
from services.vision.provider_choice import ProviderChoice


def test_the_enabled_providers_default_first_with_what_leaves_the_machine() -> None:
    choice = ProviderChoice({"VISION_PROVIDER": "claude", "VISION_ALLOWED_PROVIDERS": "local"})
    servicer = VisionServicer(None, choice)  # type: ignore[arg-type]
    reply = servicer.GetProviders(vision_pb2.GetProvidersRequest(), None)
    assert reply.default_provider == "anthropic"
    assert [(p.name, p.sends_images_off_machine) for p in reply.providers] == [
        ("anthropic", True),
        ("local", False),
    ]
