"""gRPC entry point of vision: on-demand analysis of a stored image."""

from __future__ import annotations

from typing import Any

from picopt.kernel.blobstore import BlobNotFound
from picopt.kernel.errors import NotFound
from picopt.vision.v1 import vision_pb2, vision_pb2_grpc
from services.vision.analysis import Analyzer


class VisionServicer(vision_pb2_grpc.VisionServiceServicer):
    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer

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
