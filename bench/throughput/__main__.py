"""The whole stack measured from outside, like a user: latency, burst throughput, CPU per job.

Run: `.venv/bin/python -m bench.throughput [--burst 24] [--latency-jobs 5] [--large-jobs 2]`.
Starts the real stack (fresh PostgreSQL database, private RabbitMQ vhost, free ports) laid out
as `make up` runs it on one machine (`picopt.devstack.ONE_MACHINE`: the processor's API process
running one job at a time, no separate worker, one gunicorn worker; `--api-runs-jobs`,
`--worker-processes`, `--worker-concurrency` and `--gateway-workers` change it), signs up,
confirms through the mailed token, creates an API key, then:

1. single-job latency: one 1 MP camera JPEG with no options at all, submitted and polled to
   `done`, five times one after another (median);
2. a burst of 24 such jobs submitted at once, each polled to `done`: jobs per second from the
   first submission to the last completion, and the CPU seconds every service used per job
   (the processor workers including their engine children, vision, gateway, ...), read from
   /proc before and after;
3. 12 MP camera photos to 2048 px at each effort, one job after another (seconds per job).

During the burst the memory of every process tree is sampled from /proc (memory.py): the peak
total against the 1 GB target (RSS and PSS), and each process's own peak; the CPU seconds per
job of each process too. `--memory-only` runs just the burst; `--large-jobs 0` skips step 3.

Baseline in the same run: the engine alone on the same 1 MP JPEGs with the API defaults, one
after another in child processes as the worker runs it (`optimize_isolated`): what the stack
adds on top of the engine.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from bench.engine.corpus import CORPUS
from bench.throughput.memory import MemorySampler, Peaks, descendants
from picopt.client import Client
from picopt.devstack import ONE_MACHINE
from picopt.formats import EFFORTS
from services.processor.engine import Limits, OptimizeOptions, optimize_isolated
from tests.integration.conftest import new_user
from tests.integration.harness import running_stack
from tests.integration.images import large_photo

CAMERA_PHOTOS = (
    "dog_12mp_exif_orient6_xmp.jpg",
    "harbour_nokia_9mp_gps.jpg",
    "wisteria_iphone6_8mp_gps.jpg",
    "chandelier_lowlight_canon_orient6_gps.jpg",
    "flower_3mp_progressive.jpg",
    "landscape_waterfall_2mp_orient5.jpg",
)
ONE_MP = 1_000_000
POLL_S = 0.05  # one job at a time: a fine poll so latency is measured to 50 ms
BURST_POLL_S = 0.25  # many jobs: the client's default, so the bench's own polling (gateway, auth
# and processor CPU per poll) does not stand in for the work being measured
TICKS = os.sysconf("SC_CLK_TCK")
MEMORY_TARGET_MB = 1024


def one_megapixel_jpegs() -> list[bytes]:
    """Camera photos of the corpus brought to about 1 MP, saved as a camera would (q90, EXIF
    kept)."""
    photos = []
    for name in CAMERA_PHOTOS:
        path = CORPUS / "photo" / name
        if not path.exists():
            continue
        with Image.open(path) as im:
            scale = (ONE_MP / (im.width * im.height)) ** 0.5
            small = im.convert("RGB").resize((round(im.width * scale), round(im.height * scale)))
            buf = io.BytesIO()
            small.save(buf, "JPEG", quality=90, exif=im.getexif())
            photos.append(buf.getvalue())
    if not photos:
        raise SystemExit(f"no camera photos under {CORPUS} (set PICOPT_CORPUS)")
    return photos


def engine_only(photos: list[bytes], runs: int) -> list[float]:
    seconds = []
    for i in range(runs):
        started = time.perf_counter()
        optimize_isolated(photos[i % len(photos)], OptimizeOptions(), Limits())
        seconds.append(time.perf_counter() - started)
    return seconds


def wait_done(
    client: Client, job_id: str, timeout: float = 600.0, interval: float = POLL_S
) -> dict[str, object]:
    done = client.wait(job_id, timeout=timeout, interval=interval)
    if done["status"] != "done":
        raise SystemExit(f"job {job_id} ended {done['status']}: {done.get('error')}")
    return done


def latency(client: Client, photos: list[bytes], jobs: int) -> list[float]:
    """Submission to `done` for one job at a time, no options."""
    seconds = []
    for i in range(jobs):
        started = time.perf_counter()
        job = client.submit(photos[i % len(photos)], filename="photo.jpg")
        wait_done(client, str(job["id"]))
        seconds.append(time.perf_counter() - started)
    return seconds


def burst(client: Client, photos: list[bytes], jobs: int) -> float:
    """Seconds from the first submission to the last job done, all submitted at once."""
    started = time.perf_counter()
    ids = [
        str(client.submit(photos[i % len(photos)], filename="photo.jpg")["id"]) for i in range(jobs)
    ]
    for job_id in ids:
        wait_done(client, job_id, interval=BURST_POLL_S)
    return time.perf_counter() - started


def large_by_effort(client: Client, data: bytes, jobs: int) -> dict[str, list[float]]:
    """12 MP camera JPEG to 2048 px, one job after another, per effort."""
    out: dict[str, list[float]] = {}
    for effort in EFFORTS:
        out[effort] = []
        for _ in range(jobs):
            started = time.perf_counter()
            job = client.submit(data, filename="photo.jpg", width=2048, effort=effort)
            wait_done(client, str(job["id"]))
            out[effort].append(time.perf_counter() - started)
    return out


def cpu_seconds(pid: int) -> float:
    """CPU of one process and of the children it has reaped (the engine's job processes)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / TICKS  # utime, stime, cutime, cstime


def cpu_by_process(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of every process ("worker.1/child": the children of worker.1, the
    engine's host and the jobs it reaped)."""
    by: dict[str, float] = {}
    for pid, label in descendants(roots).items():
        by[label] = by.get(label, 0.0) + cpu_seconds(pid)
    return by


def service_of(label: str) -> str:
    return label.split("/")[0].split(".")[0]


def _measured(
    fn: Callable[[], float], roots: dict[str, int]
) -> tuple[float, dict[str, float], Peaks]:
    """Wall seconds of `fn`, CPU seconds per process meanwhile, and the memory peaks."""
    before = cpu_by_process(roots)
    sampler = MemorySampler(roots)
    sampler.start()
    seconds = fn()
    peaks = sampler.stop()
    after = cpu_by_process(roots)
    return seconds, {k: after[k] - before.get(k, 0.0) for k in after}, peaks


def print_memory(
    idle: Peaks, peaks: Peaks, cpu: dict[str, float], jobs: int, wall: float, layout: str
) -> None:
    mb = 1024
    print(
        f"\nmemory and CPU: {jobs} jobs of a 1 MP photo at once, AI metadata on, {layout}, "
        f"{wall:.0f} s, {peaks.samples} samples"
    )
    print(
        "\n| process | CPU s per job | idle RSS MB | peak RSS MB | peak PSS MB |"
        "\n|---|---:|---:|---:|---:|"
    )
    for label in sorted(peaks.by_label_rss):
        print(
            f"| {label} | {cpu.get(label, 0.0) / jobs:.3f} "
            f"| {idle.by_label_rss.get(label, 0) / mb:.0f} "
            f"| {peaks.by_label_rss[label] / mb:.0f} | {peaks.by_label_pss[label] / mb:.0f} |"
        )
    print(
        f"| **stack total** | {sum(cpu.values()) / jobs:.3f} | {idle.rss_kib / mb:.0f} "
        f"| {peaks.rss_kib / mb:.0f} | {peaks.pss_kib / mb:.0f} |"
    )
    for name, kib in (("RSS", peaks.rss_kib), ("PSS", peaks.pss_kib)):
        verdict = "met" if kib / mb < MEMORY_TARGET_MB else "NOT met"
        print(f"\npeak total {name} {kib / mb:.0f} MB; target < {MEMORY_TARGET_MB} MB: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput")
    parser.add_argument("--burst", type=int, default=24)
    parser.add_argument("--latency-jobs", type=int, default=5)
    parser.add_argument("--large-jobs", type=int, default=2)
    parser.add_argument("--memory-only", action="store_true", help="just the burst and memory")
    parser.add_argument(
        "--worker-processes", type=int, default=int(ONE_MACHINE["PROCESSOR_WORKERS"])
    )
    parser.add_argument(
        "--api-runs-jobs",
        choices=["true", "false"],
        default=ONE_MACHINE["PROCESSOR_API_RUNS_JOBS"],
        help="the processor's API process runs jobs too",
    )
    parser.add_argument(
        "--worker-concurrency", type=int, default=int(ONE_MACHINE["WORKER_CONCURRENCY"])
    )
    parser.add_argument("--gateway-workers", type=int, default=int(ONE_MACHINE["GATEWAY_WORKERS"]))
    args = parser.parse_args()
    in_api = "the processor's API process and " if args.api_runs_jobs == "true" else ""
    layout = (
        f"{in_api}{args.worker_processes} worker process(es), each x {args.worker_concurrency} "
        "job(s), "
        f"{args.gateway_workers} gunicorn worker(s)"
    )
    photos = one_megapixel_jpegs()
    load_start = os.getloadavg()[0]
    engine = [] if args.memory_only else engine_only(photos, args.latency_jobs)
    # Every job costs credits (2 with AI metadata): enough for all of them. The processes as
    # `make up` runs them unless told otherwise (the harness' defaults are for the tests).
    # The polling (every 50 ms, like an impatient client) must not hit the API's rate limit.
    env = {
        "LOG_LEVEL": "warning",
        "BILLING_TRIAL_CREDITS": "1000",
        "GATEWAY_WORKERS": str(args.gateway_workers),
        "WORKER_CONCURRENCY": str(args.worker_concurrency),
        "PROCESSOR_API_RUNS_JOBS": args.api_runs_jobs,
        "RATE_LIMIT_DEFAULT": "100000/minute",
    }
    with (
        tempfile.TemporaryDirectory(prefix="picopt-bench-") as tmp,
        running_stack(Path(tmp), env, workers=args.worker_processes) as stack,
    ):
        roots = {n: p.popen.pid for n, p in stack.processes.items() if p.popen is not None}
        client = new_user(stack)
        idle = MemorySampler(roots)
        idle.sample()
        # The first job pays for imports and connections: a warm-up, not counted.
        single = [] if args.memory_only else latency(client, photos, args.latency_jobs + 1)[1:]
        wall, cpu, peaks = _measured(lambda: burst(client, photos, args.burst), roots)
        if args.memory_only:
            print_memory(idle.peaks, peaks, cpu, args.burst, wall, layout)
            return
        twelve = CORPUS / "photo" / CAMERA_PHOTOS[0]
        data = twelve.read_bytes() if twelve.exists() else large_photo()
        large = large_by_effort(client, data, args.large_jobs) if args.large_jobs else {}
    load_end = os.getloadavg()[0]
    rate = args.burst / wall
    mean_kb = sum(map(len, photos)) / len(photos) / 1e3
    print(
        f"\n1 MP camera JPEGs ({len(photos)} photos, {mean_kb:.0f} kB on average), no options "
        f"(effort balanced, jpeg/png/webp); {layout}, "
        f"{os.cpu_count()} cores; load {load_start:.1f} at the start, {load_end:.1f} at the end.\n"
    )
    print("| measure | value | target |\n|---|---:|---|")
    print(
        f"| engine alone, per job (median of {len(engine)}) | {statistics.median(engine):.2f} s | |"
    )
    print(
        f"| single-job latency, submit → done (median of {len(single)}) | "
        f"{statistics.median(single):.2f} s | ≤ 1.5 s |"
    )
    print(f"| burst of {args.burst}: throughput | {rate:.2f} jobs/s ({wall:.1f} s) | ≥ 2 jobs/s |")
    for effort, seconds in large.items():
        print(
            f"| 12 MP JPEG → 2048 px, `{effort}`, submit → done (median of {len(seconds)}) | "
            f"{statistics.median(seconds):.2f} s | |"
        )
    print_memory(idle.peaks, peaks, cpu, args.burst, wall, layout)
    by_service: dict[str, float] = {}
    for label, used in cpu.items():
        by_service[service_of(label)] = by_service.get(service_of(label), 0.0) + used
    total = sum(by_service.values())
    print(f"\nCPU seconds per job during the burst (all services: {total / args.burst:.2f} s):\n")
    print("| service | CPU s per job | share |\n|---|---:|---:|")
    for service, used in sorted(by_service.items(), key=lambda kv: -kv[1]):
        print(f"| {service} | {used / args.burst:.3f} | {used / max(total, 1e-9):.0%} |")


if __name__ == "__main__":
    main()
