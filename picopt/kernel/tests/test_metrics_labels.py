"""Analytics are aggregate counters only: no metric can carry an id or a person's data."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Summary

from picopt.kernel import metrics

# Bounded dimensions: a route template, a status, a queue, a format, a reason...
ALLOWED_LABELS = {
    "route",
    "method",
    "status",
    "code",
    "queue",
    "outcome",
    "event_type",
    "from_status",
    "to_status",
    "format",
    "direction",
    "reason",
}


def test_metrics_are_aggregate_counters_without_personal_labels() -> None:
    found = {
        name: tuple(getattr(m, "_labelnames", ()))
        for name, m in vars(metrics).items()
        if isinstance(m, Counter | Gauge | Histogram | Summary)
    }
    assert len(found) >= 10, "every metric is defined in picopt.kernel.metrics"
    unbounded = {n: labels for n, labels in found.items() if set(labels) - ALLOWED_LABELS}
    assert unbounded == {}, "a label outside the bounded dimensions could name a user or a job"
