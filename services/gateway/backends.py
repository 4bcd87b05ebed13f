"""gRPC stubs for the services behind the gateway, with request ids attached."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc

from picopt.auth.v1 import auth_pb2_grpc
from picopt.billing.v1 import billing_pb2_grpc
from picopt.kernel.grpc_client import service_channel
from picopt.kernel.settings import Settings
from picopt.processor.v1 import processor_pb2_grpc
from picopt.retention.v1 import retention_pb2_grpc
from picopt.vision.v1 import vision_pb2_grpc
from services.gateway.problems import from_rpc_error

# Every service the gateway asks (deploy/callgraph.yaml lists the same calls).
SERVICES = ("auth", "billing", "processor", "retention", "vision")
# What the gateway cannot serve requests without. Vision is asked only for which AI
# providers run (the privacy facts), remembered with a stale fallback: a vision outage must
# not take every gateway out of the Service's endpoints.
NEEDED_FOR_READINESS = tuple(name for name in SERVICES if name != "vision")


@dataclass
class Backends:
    """One client per service the gateway asks; tests pass fakes with the same methods."""

    auth: Any
    billing: Any
    processor: Any
    # retention's PrivacyService (the user's requests, sessions, policy, retention facts)
    retention: Any
    # vision's VisionService (which AI providers run, for the privacy facts)
    vision: Any
    channels: list[grpc.Channel]

    @classmethod
    def connect(cls, settings: Settings, request_id: Callable[[], str]) -> Backends:
        """Channels to the services (the kernel's, so over mTLS when GRPC_TLS_* are set)."""
        channels = {
            name: service_channel(settings, name, request_id=request_id) for name in SERVICES
        }
        return cls(
            auth=auth_pb2_grpc.AuthServiceStub(channels["auth"]),
            billing=billing_pb2_grpc.BillingServiceStub(channels["billing"]),
            processor=processor_pb2_grpc.ProcessorServiceStub(channels["processor"]),
            retention=retention_pb2_grpc.PrivacyServiceStub(channels["retention"]),
            vision=vision_pb2_grpc.VisionServiceStub(channels["vision"]),
            channels=list(channels.values()),
        )

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


@contextmanager
def calling(service: str) -> Iterator[None]:
    """Translate a backend's gRPC failure into the matching HTTP problem."""
    try:
        yield
    except grpc.RpcError as err:
        raise from_rpc_error(err, service) from err
