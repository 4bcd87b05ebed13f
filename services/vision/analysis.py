"""Vision's job: analyse an optimized result and announce the metadata.

Vision keeps nothing: the image is read from the blob store, analysed in
memory and dropped; only the metadata leaves, inside `job.analyzed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from picopt.events.v1 import events_pb2
from picopt.kernel.blobstore import BlobNotFound, BlobStore
from picopt.kernel.logs import bound_context, get_logger
from picopt.kernel.messaging import HandlerContext, Publisher, Subscription, new_envelope
from picopt.vision.v1 import vision_pb2
from services.vision.providers import Provider, UnreadableImageError, prepare_image

log = get_logger(__name__)


@dataclass
class Analyzer:
    blobs: BlobStore
    provider: Provider
    publisher: Publisher

    def analyze_blob(self, key: str, language: str = "en") -> vision_pb2.ImageMetadata:
        return self.provider.analyze(prepare_image(self.blobs.get(key)), language=language)

    def subscriptions(self) -> list[Subscription]:
        return [Subscription("job.optimized", events_pb2.JobOptimized, self.on_optimized)]

    def on_optimized(self, ctx: HandlerContext) -> None:
        event: events_pb2.JobOptimized = ctx.payload  # type: ignore[assignment]
        with bound_context(job_id=event.job_id):
            try:
                metadata = self.analyze_blob(event.result_key)
            except BlobNotFound:
                # The result was deleted (expired or cancelled): complete without metadata.
                log.warning("analysis_input_gone")
                metadata = vision_pb2.ImageMetadata(provider=self.provider.name)
            except UnreadableImageError:
                # Retrying cannot help; the job completes with its image and no metadata.
                log.warning("analysis_input_unreadable")
                metadata = vision_pb2.ImageMetadata(provider=self.provider.name)
            analyzed = events_pb2.JobAnalyzed(job_id=event.job_id, metadata=metadata)
            self.publisher.publish(new_envelope("job.analyzed", analyzed, "vision"))
            log.info("job_analyzed", provider=metadata.provider, ms=metadata.ms)
