"""GetRetentionFacts states the durations retention runs with: the gateway's pages quote it."""

from __future__ import annotations

from datetime import timedelta

from picopt.kernel.settings import Env
from picopt.retention.v1 import retention_pb2
from services.retention.grpc_api import PrivacyServicer
from services.retention.policy import RetentionPolicy


def test_the_facts_are_the_policy_retention_enforces() -> None:
    env = Env({"RETENTION_IMAGE_TTL": "7200", "RETENTION_LOG_DAYS": "30"})
    servicer = PrivacyServicer(None, None, RetentionPolicy.from_env(env))  # type: ignore[arg-type]
    reply = servicer.GetRetentionFacts(retention_pb2.GetRetentionFactsRequest(), None)
    assert reply.image_ttl.ToTimedelta() == timedelta(hours=2)
    assert reply.log_age.ToTimedelta() == timedelta(days=30)
    assert reply.erasure_deadline.ToTimedelta() == timedelta(days=30)
    assert reply.download_grace.ToTimedelta() == timedelta(minutes=5)
    assert reply.session_ttl.ToTimedelta() == timedelta(hours=1)
    assert reply.policy_notice.ToTimedelta() == timedelta(days=30)
