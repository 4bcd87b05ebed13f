"""Vision's job: analyse an optimized result and announce the metadata.

Vision keeps nothing: the image is read from the blob store, analysed in memory and dropped;
only the metadata (and the safety policy's verdict on it) leaves, inside `job.analyzed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from picopt.events.v1 import events_pb2
from picopt.kernel.blobstore import BlobNotFound, BlobStore
from picopt.kernel.logs import bound_context, get_logger
from picopt.kernel.messaging import HandlerContext, Publisher, Subscription, new_envelope
from picopt.vision.v1 import vision_pb2
from services.vision.provider_choice import ProviderChoice
from services.vision.providers import UnreadableImageError, prepare_image
from services.vision.safety_policy import SafetyPolicy

log = get_logger(__name__)


@dataclass
class Analyzer:
    blobs: BlobStore
    providers: ProviderChoice
    publisher: Publisher
    safety: SafetyPolicy

    def analyze_blob(
        self, key: str, language: str = "", provider: str = "", owner: str | None = None
    ) -> vision_pb2.ImageMetadata:
        """Metadata of a stored image; with `owner`, only an object of that user is read."""
        chosen = self.providers.resolve(provider)
        image = prepare_image(self.blobs.get(key, owner=owner))
        return chosen.analyze(image, language=language or "en")

    def subscriptions(self) -> list[Subscription]:
        return [Subscription("job.optimized", events_pb2.JobOptimized, self.on_optimized)]

    def on_optimized(self, ctx: HandlerContext) -> None:
        event: events_pb2.JobOptimized = ctx.payload  # type: ignore[assignment]
        with bound_context(job_id=event.job_id):
            try:
                metadata = self.analyze_blob(
                    event.result_key, event.language, event.vision_provider, event.owner_id or None
                )
            except BlobNotFound:
                # The result was deleted (expired or cancelled): complete without metadata.
                log.warning("analysis_input_gone")
                metadata = self._empty(event)
            except UnreadableImageError:
                # Retrying cannot help; the job completes with its image and no metadata.
                log.warning("analysis_input_unreadable")
                metadata = self._empty(event)
            action = self.safety.action(metadata)
            analyzed = events_pb2.JobAnalyzed(
                job_id=event.job_id, metadata=metadata, safety_action=action
            )
            self.publisher.publish(new_envelope("job.analyzed", analyzed, "vision"))
            log.info(
                "job_analyzed",
                provider=metadata.provider,
                ms=metadata.ms,
                verdict=metadata.safety.verdict,
                safety_action=action or "none",
            )

    def _empty(self, event: events_pb2.JobOptimized) -> vision_pb2.ImageMetadata:
        return vision_pb2.ImageMetadata(provider=self.providers.resolve(event.vision_provider).name)
