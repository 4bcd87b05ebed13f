"""One engine run in a fresh process, so its peak RSS is that job's alone.

`python -m bench.engine.probe INPUT OUTPUT [json-options]` prints one JSON line. The timed job
runs warm, as in a worker that has served a job before: one 64x64 job with the same options
first pays the one-time costs (libraries' first calls, thread pools, the predictor's
parameters: 150-400 ms, more than a whole small job).
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from services.processor.engine import EngineError, OptimizeOptions, optimize
from services.processor.engine.sandbox_host import load_engine


def peak_rss_mb() -> float:
    """VmHWM of this process image; unlike ru_maxrss it does not inherit the parent's peak
    across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _warm_up(options: OptimizeOptions) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise, "RGB").save(buf, "PNG")
    with contextlib.suppress(EngineError):  # an option the tiny job cannot take
        optimize(buf.getvalue(), replace(options, width=None, height=None, widths=()))


def main(argv: list[str]) -> int:
    source, target = Path(argv[0]), Path(argv[1])
    options = OptimizeOptions(**json.loads(argv[2])) if len(argv) > 2 else OptimizeOptions()
    data = source.read_bytes()
    load_engine()  # as in the worker's decoder host, which forks every job
    _warm_up(options)
    cpu_started = time.process_time()
    started = time.perf_counter()
    try:
        result = optimize(data, options)
    except EngineError as exc:
        print(json.dumps({"error": exc.code, "message": exc.message}))
        return 1
    ms = (time.perf_counter() - started) * 1000
    cpu_ms = (time.process_time() - cpu_started) * 1000
    target.write_bytes(result.main.data)
    report = {
        "format_in": result.format_in,
        "format_out": result.main.format,
        "bytes_in": len(data),
        "bytes_out": len(result.main.data),
        "width": result.main.width,
        "height": result.main.height,
        "frames": result.main.frames,
        "score": result.main.ssimulacra2,
        "quality": result.main.quality,
        "no_gain": result.main.no_gain,
        "ms": ms,
        # CPU time of every thread: steadier than wall time on a shared machine.
        "cpu_ms": cpu_ms,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    sys.exit(main(sys.argv[1:]))
