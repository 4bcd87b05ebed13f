"""Every Deployment of every overlay, started with its manifest's environment, answers every
probe it declares; the processes do what deploy/callgraph.yaml says.

tests/deploy/launch.py maps what differs from a cluster (hosts, ports, files) and fills
the Secrets with test values. The prod overlay runs with ENVIRONMENT=production, so
each process first checks that its settings are complete (picopt/kernel/production.py)
and exits otherwise. Both overlays start at once (the processes mostly wait on imports).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pika
import psycopg
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from picopt.events.v1 import events_pb2
from picopt.kernel import production
from picopt.kernel.messaging import (
    Consumer,
    Publisher,
    RetryPolicy,
    Subscription,
    new_envelope,
    topology,
)
from picopt.kernel.settings import Env
from picopt.kernel.tests.bus import running, wait_for
from tests.deploy.conftest import OVERLAYS, ROOT
from tests.deploy.launch import Overlay, Process, _command, launched
from tests.deploy.manifests import by_kind, callgraph, container

pytestmark = pytest.mark.integration

GRAPH = callgraph().load()
DEPLOYMENTS = [name for name, entry in GRAPH.items() if entry["kind"] == "Deployment"]
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
START_TIMEOUT_S = 120
STUB = re.compile(r"\b\w+_pb2_grpc\.(\w+)Stub\b")


@pytest.fixture(scope="module")
def overlays(rendered, tmp_path_factory) -> Iterator[dict[str, Overlay]]:
    with launched(rendered, tmp_path_factory.mktemp("overlays"), DEPLOYMENTS) as running:
        for overlay in running.values():
            _wait_for_probes(overlay)
        yield running


# --- probes -------------------------------------------------------------------------------


def _channel(overlay: Overlay, port: int, tls: bool) -> grpc.Channel:
    address = f"127.0.0.1:{port}"
    if not tls or overlay.ca is None:
        return grpc.insecure_channel(address)
    pair = overlay.ca.issue("deploy-test-client")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=overlay.ca.ca_path.read_bytes(),
        private_key=pair.key.read_bytes(),
        certificate_chain=pair.cert.read_bytes(),
    )
    return grpc.secure_channel(address, credentials)


def probe(overlay: Overlay, proc: Process, spec: dict) -> str:
    """What one probe of the manifest sees: "ok" or why not."""
    if "grpc" in spec:
        port = proc.local_port(spec["grpc"]["port"])
        request = health_pb2.HealthCheckRequest(service=spec["grpc"].get("service", ""))
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=2)
        except grpc.RpcError as err:
            return err.code().name
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return "ok" if status == "SERVING" else status
    if "httpGet" in spec:
        get = spec["httpGet"]
        url = f"http://127.0.0.1:{proc.local_port(get['port'])}{get['path']}"
        try:
            status = requests.get(url, timeout=2).status_code
        except requests.RequestException as err:
            return type(err).__name__
        return "ok" if 200 <= status < 400 else f"HTTP {status}"
    raise AssertionError(f"{proc.name}: a probe of a kind this test does not run: {spec}")


def _wait_for_probes(overlay: Overlay) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    pending = {(name, kind) for name in DEPLOYMENTS for kind in PROBES}
    last: dict[tuple[str, str], str] = {}
    while pending:
        for name, kind in sorted(pending):
            proc = overlay.processes[name]
            assert proc.popen is not None
            if proc.popen.poll() is not None:
                pytest.fail(
                    f"{overlay.name} {name} exited ({proc.popen.returncode}):\n"
                    + proc.log_text()[-3000:]
                )
            last[(name, kind)] = probe(overlay, proc, container(proc.obj)[kind])
            if last[(name, kind)] == "ok":
                pending.discard((name, kind))
        if pending and time.monotonic() > deadline:
            pytest.fail(f"{overlay.name}: probes still failing: {[(p, last[p]) for p in pending]}")
        time.sleep(0.3)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_answers_every_probe_it_declares(overlays, overlay):
    running = overlays[overlay]
    for name in DEPLOYMENTS:
        proc = running.processes[name]
        for kind in PROBES:
            assert probe(running, proc, container(proc.obj)[kind]) == "ok", (name, kind)
        metrics = requests.get(f"http://127.0.0.1:{proc.ports[9090]}/metrics", timeout=5)
        assert metrics.ok and "picopt_" in metrics.text, name


def test_the_prod_environment_is_complete_for_production_mode(overlays):
    """Each prod process ran the start-up check with ENVIRONMENT=production and passed it."""
    for name, proc in overlays["prod"].processes.items():
        assert proc.env["ENVIRONMENT"] == "production"
        assert production.missing(GRAPH[name]["package"], Env(proc.env)) == [], name


def test_the_gateway_is_ready_only_with_its_backends(overlays):
    """/readyz reports every backend the gateway calls but vision (asked only for facts it
    remembers, so a vision outage keeps the gateways in service), and Redis."""
    proc = overlays["prod"].processes["gateway"]
    reply = requests.get(f"http://127.0.0.1:{proc.ports[8080]}/readyz", timeout=5).json()
    called = {GRAPH[c]["package"] for c in GRAPH["gateway"]["calls"]} - {"vision"}
    assert "vision" in {GRAPH[c]["package"] for c in GRAPH["gateway"]["calls"]}
    assert reply["checks"] == {name: "ok" for name in [*called, "redis"]}


# --- the call graph against the code -------------------------------------------------------


def _served(overlay: Overlay, proc: Process) -> set[str]:
    """Short names of the gRPC services a process serves, from reflection on its port."""
    port = proc.ports[GRAPH[proc.name]["grpc_port"]]
    with _channel(overlay, port, tls=True) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = [s.name for r in replies for s in r.list_services_response.service]
    return {n.rsplit(".", 1)[-1] for n in names} - {"ServerReflection"}


def _stubs(package: str, tools: list[str]) -> set[str]:
    """Short names of the gRPC services a package (and its tools) creates stubs for."""
    files = [p for p in (ROOT / "services" / package).rglob("*.py") if "tests" not in p.parts]
    files += [ROOT / tool for tool in tools]
    return {m for path in files for m in STUB.findall(path.read_text())}


def test_the_call_graph_matches_the_code(overlays):
    """Every stub a workload's package creates reaches a workload it may call, and every call in
    the table is to a workload serving one of those stubs: no call blocked, none allowed unused."""
    running = overlays["prod"]
    served = {
        name: _served(running, running.processes[name])
        for name, e in GRAPH.items()
        if "grpc_port" in e
    }
    by_package: dict[str, set[str]] = {}
    for name, entry in GRAPH.items():
        by_package.setdefault(entry["package"], set()).update(entry["calls"])
    for package, calls in by_package.items():
        tools = [t for e in GRAPH.values() if e["package"] == package for t in e["tools"]]
        stubs = _stubs(package, tools) - {"Health"}
        for stub in stubs:
            assert any(stub in served[callee] for callee in calls), (
                f"services/{package} calls {stub}, served by "
                f"{sorted(n for n, s in served.items() if stub in s)}: "
                "add the call to deploy/callgraph.yaml and run deploy/k8s/callgraph.py"
            )
        for callee in calls:
            assert served[callee] & stubs, f"{package} -> {callee} is allowed but never used"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_process_consumes_exactly_what_the_table_says(overlays, overlay):
    for name in DEPLOYMENTS:
        proc = overlays[overlay].processes[name]
        queues = {q for e in proc.log_events("consumer_started") for q in e["queues"]}
        package = GRAPH[name]["package"]
        assert queues == {f"{package}.{event}" for event in GRAPH[name]["consumes"]}, name


# --- credentials are per service ---------------------------------------------------------


def test_each_database_role_reaches_its_own_schema_only(overlays):
    running = overlays["prod"]
    host_and_db = running.backends.database_url.rsplit("@", 1)[-1].split("//", 1)[-1]
    roles = running.backends.roles
    assert set(roles) == {"auth", "billing", "processor", "retention"}
    for service, (role, password) in roles.items():
        other = next(s for s in roles if s != service)
        dsn = f"postgresql://{role}:{password}@{host_and_db}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'SELECT count(*) FROM "{service}".outbox')  # its own tables
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f'SELECT count(*) FROM "{other}".outbox')
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f'CREATE SCHEMA "{service}_extra"')


def test_each_broker_user_reaches_its_own_queues_only(overlays):
    running = overlays["prod"]
    proc = running.processes["billing"]
    params = pika.URLParameters(proc.env["AMQP_URL"])
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.queue_declare("billing.job.completed", passive=True)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.basic_get("auth.account.erase")
        assert refused.value.reply_code == 403
    finally:
        if connection.is_open:
            connection.close()


def test_a_service_user_runs_the_retry_and_dead_letter_paths_and_nothing_else(overlays):
    """Billing's own broker user (the prod overlay's Permission) runs the whole retry path:
    a failed event waits in a shared delay queue (declared, published to through the default
    exchange), comes back through the retry exchange, and is handled; a poison event goes
    to its dead-letter queue. Another service's queues and other picopt.* names stay closed."""
    import pika

    url = overlays["prod"].processes["billing"].env["AMQP_URL"]
    # account.created: announced, consumed by no running service; a queue billing owns.
    kind = "account.created"
    attempts: dict[str, list[int]] = {"flaky": [], "poison": []}

    def handler(ctx: Any) -> None:
        attempts[ctx.payload.user_id].append(ctx.attempt)
        if ctx.payload.user_id == "poison" or ctx.attempt == 1:
            raise ValueError("not this time")

    retry = RetryPolicy(base_s=0.05, max_delay_s=0.2, max_attempts=3)
    subscription = Subscription(kind, events_pb2.AccountCreated, handler)
    consumer = Consumer(url, "billing", [subscription], retry=retry)
    queue = consumer.queues[0]
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        with running(consumer):
            publisher = Publisher(url, topology.DEFAULT_EXCHANGE)
            for user_id in ("flaky", "poison"):
                publisher.publish(
                    new_envelope(kind, events_pb2.AccountCreated(user_id=user_id), "t")
                )
            publisher.close()
            wait_for(lambda: len(attempts["flaky"]) == 2, timeout=30, what="the retried event")
            dlq = topology.dead_letter_queue_name(queue)
            channel = connection.channel()
            wait_for(
                lambda: channel.queue_declare(dlq, passive=True).method.message_count == 1,
                timeout=30,
                what="the poison event dead-lettered",
            )
        assert attempts == {"flaky": [1, 2], "poison": [1, 2, 3]}
        refused = [
            lambda ch: ch.basic_get("retention.job.completed"),
            lambda ch: ch.queue_declare("retention.account.created", durable=True),
            lambda ch: ch.exchange_declare("picopt.other", exchange_type="topic"),
            lambda ch: ch.basic_publish("amq.topic", "x", b"x"),
        ]
        for attempt in refused:
            channel = connection.channel()
            channel.confirm_delivery()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err:
                attempt(channel)
                channel.queue_declare(queue, passive=True)  # surfaces an asynchronous refusal
            assert err.value.reply_code == 403
    finally:
        channel = connection.channel()
        for name in (queue, topology.dead_letter_queue_name(queue)):
            channel.queue_delete(name)
        connection.close()


# --- the CronJob ---------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_retention_sweep_cronjob_runs_to_completion(overlays, overlay):
    running = overlays[overlay]
    proc = running.processes["retention-sweep"]
    result = subprocess.run(
        _command(proc.obj), env=proc.env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"deleted"' in result.stdout
    assert by_kind(running.objects, "CronJob")["retention-sweep"]
