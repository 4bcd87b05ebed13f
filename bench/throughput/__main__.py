"""Jobs per minute for one processor worker: the figure operators size autoscaling with.

Run: `.venv/bin/python -m bench.throughput [--jobs N]`. Starts the real stack (fresh
PostgreSQL database, private RabbitMQ vhost) with ONE worker, submits N copies of a
typical 12 MP camera JPEG asking for 2048 px wide output (format chosen by the
engine, no AI metadata), and measures the time from the first submission to the
last completion. Baseline in the same run: the engine alone on the same image with
the same options, one job after another in this process's children
(`optimize_isolated`, as the worker calls it) — the difference is what the service
path costs (storage, encryption, events, database).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from picopt.devstack import free_port
from services.processor.engine import Limits, OptimizeOptions, optimize_isolated
from tests.integration.conftest import new_user
from tests.integration.harness import running_stack
from tests.integration.images import large_photo

OPTIONS = {"width": 2048, "metadata": False}


def engine_only(data: bytes, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        optimize_isolated(data, OptimizeOptions(width=2048), Limits())
        seconds.append(time.perf_counter() - started)
    return seconds


def through_the_stack(data: bytes, jobs: int) -> tuple[float, float, str]:
    """(wall seconds for all jobs, mean worker processing seconds, a metrics excerpt)."""
    metrics_port = str(free_port())
    with (
        tempfile.TemporaryDirectory(prefix="picopt-bench-") as tmp,
        running_stack(
            Path(tmp), {"WORKER_METRICS_PORT": metrics_port, "LOG_LEVEL": "warning"}, workers=1
        ) as stack,
    ):
        client = new_user(stack)
        started = time.perf_counter()
        ids = [client.submit(data, filename="photo.jpg", **OPTIONS)["id"] for _ in range(jobs)]
        done = [client.wait(job_id, timeout=600) for job_id in ids]
        wall = time.perf_counter() - started
        failed = [d for d in done if d["status"] != "done"]
        if failed:
            raise SystemExit(f"{len(failed)} jobs failed: {failed[0]['error']}")
        text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    total = sum(s.value for s in samples if s.name == "picopt_job_processing_seconds_sum")
    count = sum(s.value for s in samples if s.name == "picopt_job_processing_seconds_count")
    excerpt = "\n".join(
        line
        for line in text.splitlines()
        if line.startswith(
            (
                "picopt_job_processing_seconds_sum",
                "picopt_job_processing_seconds_count",
                "picopt_image_bytes_total",
                "picopt_job_transitions_total",
            )
        )
    )
    return wall, total / max(count, 1), excerpt


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--engine-runs", type=int, default=3)
    args = parser.parse_args()
    data = large_photo()
    print(f"input: 12 MP JPEG, {len(data) / 1e6:.1f} MB -> 2048 px wide; cores: {os.cpu_count()}")
    engine = engine_only(data, args.engine_runs)
    wall, processing, excerpt = through_the_stack(data, args.jobs)
    engine_median = statistics.median(engine)
    rows = [
        ("engine only (baseline)", args.engine_runs, engine_median, 60 / engine_median),
        ("stack, 1 worker", args.jobs, wall / args.jobs, 60 * args.jobs / wall),
    ]
    print("\n| run | jobs | s/job | jobs/min |\n|---|---:|---:|---:|")
    for name, n, per, rate in rows:
        print(f"| {name} | {n} | {per:.2f} | {rate:.1f} |")
    print(f"\nmean processing per job inside the worker (fetch, engine, store): {processing:.2f} s")
    print(f"\nworker metrics after the run:\n{excerpt}")


if __name__ == "__main__":
    main()
