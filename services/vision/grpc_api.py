"""gRPC entry point of vision: on-demand analysis of a stored image."""

from __future__ import annotations

from typing import Any

from picopt.kernel.blobstore import BlobNotFound
from picopt.kernel.errors import NotFound
from picopt.vision.v1 import vision_pb2, vision_pb2_grpc
from picopt.vision_providers import sends_images_off_machine
from services.vision.analysis import Analyzer
from services.vision.provider_choice import ProviderChoice


class VisionServicer(vision_pb2_grpc.VisionServiceServicer):
    def __init__(self, analyzer: Analyzer, providers: ProviderChoice) -> None:
        self.analyzer = analyzer
        self.providers = providers

    def GetProviders(
        self, request: vision_pb2.GetProvidersRequest, context: Any
    ) -> vision_pb2.GetProvidersResponse:
        """The providers this process runs (the privacy pages state them from here)."""
        return vision_pb2.GetProvidersResponse(
            default_provider=self.providers.default,
            providers=[
                vision_pb2.AiProvider(name=n, sends_images_off_machine=sends_images_off_machine(n))
                for n in self.providers.enabled
            ],
        )

    def Analyze(
        self, request: vision_pb2.AnalyzeRequest, context: Any
    ) -> vision_pb2.AnalyzeResponse:
        try:
            metadata = self.analyzer.analyze_blob(
                request.blob_key, request.language, request.provider
            )
        except BlobNotFound as exc:
            raise NotFound("image not found", code="blob_not_found") from exc
        return vision_pb2.AnalyzeResponse(metadata=metadata)
