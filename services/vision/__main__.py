"""Run the vision service: `python -m services.vision`."""

from __future__ import annotations

from picopt.kernel.protos import service_name
from picopt.kernel.runtime import ServiceApp
from picopt.vision.v1 import vision_pb2, vision_pb2_grpc
from services.vision.analysis import Analyzer
from services.vision.grpc_api import VisionServicer
from services.vision.provider_choice import ProviderChoice
from services.vision.safety_policy import SafetyPolicy


def main() -> None:
    app = ServiceApp("vision")
    settings = app.settings.env.env
    providers = ProviderChoice(settings)
    providers.warm_up()
    analyzer = Analyzer(
        app.blobs(), providers, app.publisher(), SafetyPolicy.from_settings(settings)
    )
    app.grpc_server().add(
        vision_pb2_grpc.add_VisionServiceServicer_to_server,
        VisionServicer(analyzer, providers),
        [service_name(vision_pb2.DESCRIPTOR, "VisionService")],
    )
    # Messages a pod holds (one in hand, the rest waiting in its buffer). Images are analysed
    # one at a time, so more only helps to hide the broker round trip; keep it small, or new
    # pods that KEDA starts for a backlog find it parked in the old ones.
    app.consume(analyzer.subscriptions(), prefetch=app.settings.env.int("VISION_PREFETCH", 1))
    app.run()


if __name__ == "__main__":
    main()
