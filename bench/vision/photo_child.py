"""One provider process for the real-photo benchmark: `python -m bench.vision.photo_child`.

Run from the root of the code under test (today's tree or a baseline extracted from git), so
the same loop measures both: it loads the local provider, decodes and analyses every labelled
photo, and prints one JSON document with alt texts, milliseconds and the process's memory.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import structlog


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from bench.vision.photos import photos
    from services.vision.providers import get_provider, prepare_image

    items = list(photos())
    rss_start = _status_mb("VmRSS")
    started = time.perf_counter()
    provider = get_provider("local", {"VISION_LOCAL_THREADS": "1"})
    load_ms = (time.perf_counter() - started) * 1000
    rss_loaded = _status_mb("VmRSS")
    rows = []
    for photo, data in items:
        t0, c0 = time.perf_counter(), time.process_time()
        meta = provider.analyze(prepare_image(data))
        rows.append(
            {
                "source": photo.source,
                "alt_text": meta.alt_text,
                "ms": round((time.perf_counter() - t0) * 1000, 1),
                "cpu_ms": round((time.process_time() - c0) * 1000, 1),
            }
        )
    json.dump(
        {
            "model": getattr(provider, "model", ""),
            "load_ms": round(load_ms),
            "rss_start_mb": rss_start,
            "rss_loaded_mb": rss_loaded,
            "rss_end_mb": _status_mb("VmRSS"),
            "rss_peak_mb": _status_mb("VmHWM"),
            "rows": rows,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
