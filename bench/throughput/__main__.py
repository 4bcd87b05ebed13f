"""Jobs per minute for one processor worker: the figure operators size autoscaling with.

Run: `.venv/bin/python -m bench.throughput [--jobs N] [--memory-jobs N] [--memory-only]`.
Starts the real stack (fresh PostgreSQL database, private RabbitMQ vhost) with ONE worker,
submits N copies of a typical 12 MP camera JPEG asking for 2048 px wide output (format chosen by the
engine, no AI metadata), and measures the time from the first submission to the
last completion. Baseline in the same run: the engine alone on the same image with
the same options, one job after another in this process's children
(`optimize_isolated`, as the worker calls it) — the difference is what the service
path costs (storage, encryption, events, database).

Then the memory figure: the one-machine stack as `make up` runs it (every service, TWO
workers) serving a burst of 1 MP photos with the default options (AI metadata on), its process
trees sampled from /proc; the peak total against the 1 GB target, and each process's own peak.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from bench.throughput.memory import MemorySampler, Peaks
from picopt.devstack import free_port
from picopt.samples import skimage_photo
from services.processor.engine import Limits, OptimizeOptions, optimize_isolated
from tests.integration.conftest import new_user
from tests.integration.harness import running_stack
from tests.integration.images import large_photo

OPTIONS = {"width": 2048, "metadata": False}
MEMORY_TARGET_MB = 1024


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


def one_megapixel_photo() -> bytes:
    """A real photo (scikit-image's astronaut) at 1152 x 864, as a camera-ish JPEG."""
    image = Image.open(skimage_photo("astronaut.png")).convert("RGB").resize((1152, 864))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def memory_burst(data: bytes, jobs: int, workers: int = 2) -> tuple[Peaks, Peaks, float]:
    """(memory when idle after start-up, peaks during the burst, wall seconds of the burst)."""
    # As `make up` runs it: two gunicorn workers in the gateway (the harness' default is one).
    env = {
        "LOG_LEVEL": "warning",
        "BILLING_TRIAL_CREDITS": str(4 * jobs),
        "GATEWAY_WORKERS": "2",
    }
    with (
        tempfile.TemporaryDirectory(prefix="picopt-bench-") as tmp,
        running_stack(Path(tmp), env, workers=workers) as stack,
    ):
        roots = {n: p.popen.pid for n, p in stack.processes.items() if p.popen is not None}
        client = new_user(stack)
        idle = MemorySampler(roots)
        idle.sample()
        sampler = MemorySampler(roots)
        sampler.start()
        started = time.perf_counter()
        ids = [client.submit(data, filename=f"photo-{i}.jpg")["id"] for i in range(jobs)]
        done = [client.wait(job_id, timeout=600) for job_id in ids]
        wall = time.perf_counter() - started
        peaks = sampler.stop()
    failed = [d for d in done if d["status"] != "done"]
    if failed:
        raise SystemExit(f"{len(failed)} jobs failed: {failed[0]['error']}")
    return idle.peaks, peaks, wall


def print_memory(idle: Peaks, peaks: Peaks, jobs: int, wall: float) -> None:
    mb = 1024
    print(
        f"\nmemory: {jobs} jobs of a 1 MP photo, AI metadata on, 2 workers, "
        f"{wall:.0f} s, {peaks.samples} samples"
    )
    print("\n| process | idle RSS MB | peak RSS MB | peak PSS MB |\n|---|---:|---:|---:|")
    for label in sorted(peaks.by_label_rss):
        print(
            f"| {label} | {idle.by_label_rss.get(label, 0) / mb:.0f} "
            f"| {peaks.by_label_rss[label] / mb:.0f} | {peaks.by_label_pss[label] / mb:.0f} |"
        )
    print(
        f"| **stack total** | {idle.rss_kib / mb:.0f} | {peaks.rss_kib / mb:.0f} "
        f"| {peaks.pss_kib / mb:.0f} |"
    )
    verdict = "met" if peaks.rss_kib / mb < MEMORY_TARGET_MB else "NOT met"
    total = peaks.rss_kib / mb
    print(f"\npeak total RSS {total:.0f} MB; target < {MEMORY_TARGET_MB} MB: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--engine-runs", type=int, default=3)
    parser.add_argument("--memory-jobs", type=int, default=12, help="0 skips the memory burst")
    parser.add_argument("--memory-only", action="store_true", help="skip the throughput runs")
    args = parser.parse_args()
    if args.memory_jobs:
        idle, peaks, wall = memory_burst(one_megapixel_photo(), args.memory_jobs)
        print_memory(idle, peaks, args.memory_jobs, wall)
    if args.memory_only:
        return
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
