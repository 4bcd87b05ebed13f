"""The monitoring objects watch what the code exports: every Deployment is scraped, and every
metric and label an alert or a dashboard panel names exists."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from picopt.kernel import metrics
from tests.deploy.conftest import K8S, render
from tests.deploy.manifests import by_kind, callgraph, pod_labels, workloads

GRAPH = callgraph().load()
# Labels Prometheus adds to every scraped series (target labels), and a histogram's bucket label.
TARGET_LABELS = {"namespace", "pod", "job", "instance", "container", "service", "endpoint"}
# Exporters that are not ours, by prefix, with the families the alerts may use.
RABBITMQ_DETAILED = {  # /metrics/detailed families requested in data-monitoring.yaml
    "queue_coarse_metrics": {
        "rabbitmq_detailed_queue_messages_ready",
        "rabbitmq_detailed_queue_messages_unacked",
        "rabbitmq_detailed_queue_messages",
    },
    "queue_consumer_count": {"rabbitmq_detailed_queue_consumers"},
}
OTHER_EXPORTERS = ("barman_cloud_cloudnative_pg_io_", "kube_")
METRIC = re.compile(r"\b([a-z_][a-z0-9_]*)\s*(\{([^}]*)\})?")


def exported() -> dict[str, set[str]]:
    """Series names our processes expose (picopt/kernel/metrics.py) -> their label names."""
    series: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if not isinstance(value, Counter | Gauge | Histogram):
            continue
        name, labels = value._name, set(value._labelnames)
        if isinstance(value, Counter):
            series[f"{name}_total"] = labels
        elif isinstance(value, Histogram):
            series |= {
                f"{name}_bucket": labels | {"le"},
                f"{name}_sum": labels,
                f"{name}_count": labels,
            }
        else:
            series[name] = labels
    return series


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every alert and every dashboard panel."""
    found = []
    for obj in by_kind(_monitoring_objects(), "PrometheusRule").values():
        for group in obj["spec"]["groups"]:
            for rule in group["rules"]:
                found.append((f"alert {rule['alert']}", rule["expr"]))
    dashboard = json.loads((K8S / "monitoring" / "dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            found.append((f"panel {panel['title']!r}", target["expr"]))
    return found


def _monitoring_objects() -> list[dict]:
    return render(K8S / "monitoring") + _data_monitors()


def _data_monitors() -> list[dict]:
    text = (K8S / "overlays" / "prod" / "data-monitoring.yaml").read_text()
    return [o for o in yaml.safe_load_all(text) if o]


def test_every_deployment_is_scraped_on_its_metrics_port(rendered):
    objects = rendered["prod"]
    monitors = by_kind(objects, "PodMonitor").values()
    for name, obj in workloads(objects).items():
        if obj["kind"] != "Deployment":
            continue
        matching = [
            m
            for m in monitors
            if m["spec"]["selector"]["matchLabels"].items() <= pod_labels(obj).items()
        ]
        assert matching, f"no PodMonitor selects {name}"
        ports = {p["name"] for p in obj["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert all(e["port"] in ports for m in matching for e in m["spec"]["podMetricsEndpoints"])


@pytest.mark.parametrize(("where", "expr"), expressions())
def test_alerts_and_panels_name_metrics_and_labels_that_exist(where, expr):
    ours = exported()
    requested = set().union(*RABBITMQ_DETAILED.values())
    assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), where
    named = [
        (m.group(1), m.group(3) or "")
        for m in METRIC.finditer(re.sub(r'"[^"]*"', '""', expr))
        if m.group(1).startswith(("picopt_", "rabbitmq_", *OTHER_EXPORTERS))
    ]
    assert named, f"{where} names no metric"
    for name, matchers in named:
        labels = {m.split("=")[0].strip(" !~") for m in matchers.split(",") if m.strip()}
        if name.startswith("picopt_"):
            assert name in ours, f"{where}: {name} is not exported (picopt/kernel/metrics.py)"
            assert labels <= ours[name] | TARGET_LABELS, (
                f"{where}: {name} has no {labels - ours[name]}"
            )
        elif name.startswith("rabbitmq_"):
            assert name in requested, f"{where}: {name} is not scraped (data-monitoring.yaml)"


def test_the_broker_scrape_asks_for_the_families_the_alerts_use():
    (rabbit,) = [d for d in _data_monitors() if d["metadata"]["name"] == "picopt-rabbitmq"]
    endpoints = rabbit["spec"]["podMetricsEndpoints"]
    detailed = [e for e in endpoints if e["path"] == "/metrics/detailed"]
    assert set(detailed[0]["params"]["family"]) == set(RABBITMQ_DETAILED)


def test_the_alerts_cover_what_the_readme_promises():
    alerts = {where for where, _ in expressions() if where.startswith("alert ")}
    exprs = " ".join(expr for where, expr in expressions() if where.startswith("alert "))
    for metric in (
        "rabbitmq_detailed_queue_messages",  # queue depth
        "picopt_event_consume_lag_seconds_bucket",  # queue age
        "picopt_outbox_pending_events",
        "picopt_privacy_requests_overdue",
        "picopt_http_requests_total",  # error ratio
        "picopt_job_transitions_total",
        "picopt_job_processing_seconds_bucket",  # job latency
        "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",
    ):
        assert metric in exprs, metric
    assert len(alerts) >= 10
