"""Run the processor: `python -m services.processor api` (job API) or `... worker`.

PROCESSOR_API_RUNS_JOBS=true makes the API process run jobs as well, as one worker would:
one machine then spends one process (~100 MB resident) instead of two; a cluster scales
workers as their own pods and leaves it off.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from picopt.kernel.db import Database
from picopt.kernel.messaging import Outbox
from picopt.kernel.protos import service_name
from picopt.kernel.runtime import ServiceApp
from picopt.kernel.settings import SettingsError
from picopt.processor.v1 import processor_pb2, processor_pb2_grpc
from services.processor.analyzed import AnalyzedHandler
from services.processor.engine import Limits
from services.processor.engine.isolated import sandbox
from services.processor.expiry import JobExpiry
from services.processor.grpc_api import ProcessorServicer
from services.processor.jobs import JobService
from services.processor.privacy import ProcessorPrivacy
from services.processor.worker import Worker

MIGRATIONS = Path(__file__).parent / "migrations"


def run_api() -> None:
    app = ServiceApp("processor")
    db = app.database(MIGRATIONS)
    outbox = Outbox("processor")
    server = app.grpc_server()
    server.add(
        processor_pb2_grpc.add_ProcessorServiceServicer_to_server,
        ProcessorServicer(JobService(db, outbox)),
        [service_name(processor_pb2.DESCRIPTOR, "ProcessorService")],
    )
    app.consume(AnalyzedHandler(outbox, db, app.blobs()).subscriptions(), db=db)
    privacy = ProcessorPrivacy(db, outbox)
    privacy.participant.register(server)
    expiry = JobExpiry(db, outbox)
    app.consume([*privacy.participant.subscriptions(), *expiry.subscriptions()], db=db)
    app.every("job_expiry", app.settings.env.float("PROCESSOR_EXPIRY_INTERVAL", 60.0), expiry.tick)
    if app.settings.env.bool("PROCESSOR_API_RUNS_JOBS", False):
        consume_jobs(app, db)
    app.outbox_relay(db)
    app.run()


def run_worker() -> None:
    app = ServiceApp("processor")
    env = app.settings.env
    db = app.database(MIGRATIONS)
    app.metrics_port = env.int("WORKER_METRICS_PORT", app.metrics_port)
    app.grpc_server(port=env.int("WORKER_HEALTH_PORT", 0))
    consume_jobs(app, db)
    app.outbox_relay(db)
    app.run()


def consume_jobs(app: ServiceApp, db: Database) -> None:
    """Start the decoder host and WORKER_CONCURRENCY consumers of submitted jobs in `app`."""
    env = app.settings.env
    limits = Limits.from_env(env)
    # The decoder host starts now: its network state is logged at start-up, and with
    # ENGINE_NETWORK_ISOLATION=required a platform that cannot isolate stops the worker here.
    sandbox(limits.network).start()
    max_attempts = env.int("WORKER_MAX_ATTEMPTS", 3)
    worker = Worker(db, app.blobs(), Outbox("processor"), limits, max_attempts)
    # WORKER_CONCURRENCY jobs at once, each on its own broker connection holding one message,
    # over the one decoder host (each job in its own child of it): N jobs cost one worker
    # process and one host instead of N of each.
    concurrency = env.int("WORKER_CONCURRENCY", 1)
    if concurrency < 1:
        raise SettingsError(f"WORKER_CONCURRENCY must be at least 1, got {concurrency}")
    for _ in range(concurrency):
        # On SIGTERM the job in hand may finish within the grace; past it, the broker
        # redelivers it to another worker (keep it below the pod's termination grace).
        app.consume(
            worker.subscriptions(),
            db=db,
            max_attempts=max_attempts,
            prefetch=1,
            stop_grace_s=env.float("WORKER_STOP_GRACE_S", 90.0),
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.processor")
    parser.add_argument("role", choices=["api", "worker"], nargs="?", default="api")
    args = parser.parse_args()
    run_worker() if args.role == "worker" else run_api()


if __name__ == "__main__":
    main()
