"""Engine benchmark: bytes at equal SSIMULACRA2 against baselines, speed, memory, metric speed.

Run: `.venv/bin/python -m bench.engine [--quick] [--max-side N]`. Writes bench/out/engine/ and,
with --write-results, bench/RESULTS-engine.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyvips
import structlog
from PIL import Image

from services.processor.engine import Limits, OptimizeOptions, optimize
from services.processor.engine.decode import decode
from services.processor.engine.geometry import plan
from services.processor.engine.metric import ssimulacra2
from services.processor.engine.resize import apply_plan
from services.processor.engine.sandbox_host import load_engine
from services.processor.engine.search import Judge

from .baselines import ALPHA_CAPABLE, BASELINES, BaselineResult, search, vips_avif
from .corpus import OUT, REPO, BenchImage, images

ACCEPT = ("jpeg", "png", "webp", "avif")
EFFORTS = ("fast", "balanced", "max")
SPEED_IMAGE = "photo/dog_12mp_exif_orient6_xmp.jpg"
RESULTS = REPO / "bench" / "RESULTS-engine.md"
SPEED_ROUNDS = 5
METRIC_ROUNDS = 3  # each round: three fast scores, one reference score


@dataclass
class Row:
    image: BenchImage
    ours: dict[str, Any]
    baselines: list[BaselineResult] = field(default_factory=list)
    # One libvips AVIF encode at effort 1 (libaom speed 8) of the same pixels, ms per MP.
    vips_effort1_ms_per_mp: float | None = None
    reference_score: float | None = None  # the reference package's score of our output
    # Our fast metric's score of the output against the same pixels at full size, whatever the
    # engine verified on (the target rows are judged on this).
    full_score: float | None = None


def probe(path: Path, out: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Run the engine in a fresh interpreter; returns its JSON report (with peak RSS)."""
    cmd = [sys.executable, "-m", "bench.engine.probe", str(path), str(out), json.dumps(options)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    lines = done.stdout.strip().splitlines()
    if not lines:
        return {"error": "crash", "message": done.stderr[-500:]}
    return json.loads(lines[-1])


def same_pixels(path: Path, max_side: int) -> Image.Image:
    """The decoded, oriented, resized frame our engine encoded, for the baselines to encode."""
    decoded = decode(path.read_bytes(), Limits())
    p = plan(decoded.width, decoded.height, max_side, max_side, "inside")
    return apply_plan(decoded.frames[:1], p)[0]


def compression(
    images_: list[BenchImage], max_side: int, efforts: tuple[str, ...]
) -> dict[str, list[Row]]:
    """Each image at each effort, and the baselines searched to each effort's score."""
    rows: dict[str, list[Row]] = {effort: [] for effort in efforts}
    for image in images_:
        frame: Image.Image | None = None
        judge: Judge | None = None
        searched: dict[tuple[str, float], BaselineResult] = {}
        vips_ms: float | None = None
        for effort in efforts:
            out = OUT / "engine" / f"{image.name.replace('/', '__')}.{effort}.out"
            options = {"width": max_side, "height": max_side, "accept": list(ACCEPT)}
            ours = probe(image.path, out, {**options, "effort": effort})
            row = Row(image, ours)
            if "error" not in ours and ours.get("frames") == 1:
                frame = frame or same_pixels(image.path, max_side)
                judge = judge or Judge(frame)
                target = 80.0 if ours["no_gain"] else float(ours["score"])
                for name in BASELINES:
                    if frame.mode == "RGBA" and name not in ALPHA_CAPABLE:
                        continue
                    if (name, target) not in searched:
                        searched[name, target] = search(name, frame, judge, target)
                    row.baselines.append(searched[name, target])
                if vips_ms is None:
                    vips_ms = vips_effort1_ms_per_mp(frame, row.baselines)
                row.vips_effort1_ms_per_mp = vips_ms
                if not ours["no_gain"]:
                    row.reference_score = reference_score(frame, out.read_bytes())
                    row.full_score = judge.score_bytes(out.read_bytes())
            rows[effort].append(row)
            print(f"{effort}: {_row_line(row)}", flush=True)
    return rows


def vips_effort1_ms_per_mp(frame: Image.Image, baselines: list[BaselineResult]) -> float:
    """One libvips AVIF encode at effort 1 (imgproxy's default speed) of these pixels, at the
    quality the vips-avif baseline needed (60 when it has none): the best of two, ms per MP."""
    quality = next((b.quality for b in baselines if b.name == "vips-avif" and b.quality), 60)
    return min(timed_ms(lambda: vips_avif(frame, quality, effort=1)) for _ in range(2)) / (
        frame.width * frame.height / 1e6
    )


def reference_score(frame: Image.Image, data: bytes) -> float:
    """The reference SSIMULACRA2 package's score of an output against the same pixels (flattened
    onto white where transparent, as both are shown on a page)."""
    import ssimulacra2 as reference

    files = []
    with Image.open(io.BytesIO(data)) as out:
        for im in (frame, out.convert(frame.mode)):
            buf = io.BytesIO()
            flat = im if im.mode != "RGBA" else _on_white(im)
            flat.convert("RGB").save(buf, "PNG")
            buf.seek(0)
            files.append(buf)
    return float(reference.compute_ssimulacra2(*files))


def _on_white(im: Image.Image) -> Image.Image:
    canvas = Image.new("RGB", im.size, (255, 255, 255))
    canvas.paste(im, mask=im.getchannel("A"))
    return canvas


def _row_line(row: Row) -> str:
    o = row.ours
    if "error" in o:
        return f"{row.image.name}: error {o['error']}"
    parts = [
        f"{row.image.name}: {o['format_in']}->{o['format_out']} {o['bytes_in']}->{o['bytes_out']}",
        f"score {o['score']} {o['ms']:.0f} ms (cpu {o.get('cpu_ms', 0):.0f}) "
        f"rss {o['peak_rss_mb']:.0f} MB",
    ]
    for b in row.baselines:
        parts.append(f"{b.name} {b.bytes} (q{b.quality})")
    return " | ".join(parts)


def timed_ms(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _min_ms(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Min-of-N wall time per function, the functions interleaved round by round so that a
    burst of load from other work on the machine hits every side alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(timed_ms(fn))
    return {name: min(t) for name, t in times.items()}


def speed(images_: list[BenchImage]) -> dict[str, float]:
    """12 MP JPEG to a 2048 px WebP: fixed quality vs libvips, and quality=auto vs fixed; the
    same JPEG to 2048 px with the API's defaults at each effort."""
    source = next(i for i in images_ if i.name == SPEED_IMAGE).path
    data = source.read_bytes()

    def vips_fixed() -> bytes:
        im = pyvips.Image.thumbnail_buffer(data, 2048, height=2048, size="down")
        return im.webpsave_buffer(Q=80, effort=4, keep=pyvips.enums.ForeignKeep.NONE)

    fixed = OptimizeOptions(width=2048, height=2048, format="webp", quality="80")
    auto = OptimizeOptions(width=2048, height=2048, format="webp")
    vips_fixed()
    optimize(data, fixed)
    return _min_ms(
        {
            "vips_fixed_ms": vips_fixed,
            "ours_fixed_ms": lambda: optimize(data, fixed),
            "ours_auto_ms": lambda: optimize(data, auto),
            **{
                f"defaults_{effort}_ms": partial(optimize, data, defaults(effort))
                for effort in EFFORTS
            },
        },
        rounds=SPEED_ROUNDS,
    )


# The camera photos bench.throughput brings to 1 MP for its full-stack rows.
CAMERA_PHOTOS = (
    "photo/dog_12mp_exif_orient6_xmp.jpg",
    "photo/harbour_nokia_9mp_gps.jpg",
    "photo/wisteria_iphone6_8mp_gps.jpg",
    "photo/chandelier_lowlight_canon_orient6_gps.jpg",
    "photo/flower_3mp_progressive.jpg",
    "photo/landscape_waterfall_2mp_orient5.jpg",
)


def one_megapixel_defaults(images_: list[BenchImage]) -> dict[str, float]:
    """The engine alone on the 1 MP camera JPEGs of bench.throughput with the API's defaults
    (no options): mean wall and CPU time per job, warm, one job after another."""
    jpegs = []
    for image in images_:
        if image.name in CAMERA_PHOTOS:
            with Image.open(image.path) as im:
                scale = (1e6 / (im.width * im.height)) ** 0.5
                size = (round(im.width * scale), round(im.height * scale))
                small = im.convert("RGB").resize(size)
                buf = io.BytesIO()
                small.save(buf, "JPEG", quality=90, exif=im.getexif())
                jpegs.append(buf.getvalue())
    if not jpegs:
        return {}
    optimize(jpegs[0], OptimizeOptions())
    wall, cpu, total = 0.0, 0.0, 0
    for data in jpegs:
        started, cpu_started = time.perf_counter(), time.process_time()
        total += len(optimize(data, OptimizeOptions()).main.data)
        wall += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
    n = len(jpegs)
    return {
        "defaults_1mp_wall_ms": wall / n * 1000,
        "defaults_1mp_cpu_ms": cpu / n * 1000,
        "defaults_1mp_bytes": float(total),
        "defaults_1mp_jobs": float(n),
    }


def defaults(effort: str) -> OptimizeOptions:
    """What the API sends for a 2048 px request with nothing else asked (accept: jpeg, png,
    webp)."""
    return OptimizeOptions(width=2048, height=2048, effort=effort)


def memory(images_: list[BenchImage]) -> dict[str, float]:
    """Peak RSS of a fresh process optimising a 36 MP JPEG to 2048 px, and the 12 MP JPEG kept
    at full size, with the API's defaults."""
    source = next(i for i in images_ if i.name == SPEED_IMAGE).path
    big = OUT / "engine" / "upscaled_36mp.jpg"
    if not big.exists():
        vi = pyvips.Image.new_from_file(str(source)).resize(6930 / 4032, kernel="linear")
        vi.jpegsave(str(big), Q=90)
    report = probe(big, OUT / "engine" / "upscaled_36mp.out", {"width": 2048, "height": 2048})
    full = probe(source, OUT / "engine" / "full_size_12mp.out", {})
    with Image.open(big) as im:
        mp = im.width * im.height / 1e6
    return {
        "megapixels": mp,
        "peak_rss_mb": float(report.get("peak_rss_mb", -1)),
        "ms": float(report.get("ms", -1)),
        "full_size_peak_rss_mb": float(full.get("peak_rss_mb", -1)),
        "full_size_ms": float(full.get("ms", -1)),
    }


def metric_speed(images_: list[BenchImage]) -> dict[str, float]:
    """Fast metric vs the reference package on a 1 MP pair, plus their agreement."""
    import ssimulacra2 as reference

    source = next(i for i in images_ if i.name == "photo/flower_3mp_progressive.jpg").path
    with Image.open(source) as im:
        src = im.convert("RGB").resize((1224, 816), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    src.save(buf, "JPEG", quality=60)
    dist = Image.open(buf).convert("RGB")
    a, b = np.asarray(src), np.asarray(dist)
    files = []
    for pair_image in (src, dist):
        f = io.BytesIO()
        pair_image.save(f, "PNG")
        files.append(f)

    def ref() -> float:
        for f in files:
            f.seek(0)
        return float(reference.compute_ssimulacra2(*files))

    ssimulacra2(a, b)

    def fast() -> float:
        return ssimulacra2(a, b)

    timed = _min_ms({"f1": fast, "f2": fast, "f3": fast, "ref": ref}, rounds=METRIC_ROUNDS)
    fast_ms = min(timed["f1"], timed["f2"], timed["f3"])
    ref_ms = timed["ref"]
    return {
        "fast_ms": fast_ms,
        "reference_ms": ref_ms,
        "speedup": ref_ms / fast_ms,
        "fast_score": ssimulacra2(a, b),
        "reference_score": ref(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine")
    parser.add_argument("--quick", action="store_true", help="8 images instead of all")
    parser.add_argument("--max-side", type=int, default=1600, help="fit inside N x N px")
    parser.add_argument("--write-results", action="store_true", help="update RESULTS-engine.md")
    parser.add_argument(
        "--images", default="", help="comma list of name substrings: only the images matching one"
    )
    parser.add_argument(
        "--no-extras",
        action="store_true",
        help="skip the 12 MP speed, memory and metric sections (quick iterations)",
    )
    parser.add_argument(
        "--efforts", default=",".join(EFFORTS), help="comma list of efforts to run (default: all)"
    )
    args = parser.parse_args(argv)
    args.commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    efforts = tuple(e for e in EFFORTS if e in args.efforts.split(","))
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    load_engine()  # set up as the worker's decoder host is, before any thread starts
    # Repeated timing runs must decode each time, for libvips as for us.
    pyvips.cache_set_max(0)
    (OUT / "engine").mkdir(parents=True, exist_ok=True)
    all_images = images()
    selected = images(quick=args.quick)
    if args.images:
        wanted = [w for w in args.images.split(",") if w]
        selected = [i for i in selected if any(w in i.name for w in wanted)]
    started = time.perf_counter()
    load = {"load_start": os.getloadavg()[0]}
    rows = compression(selected, args.max_side, efforts)
    perf: dict[str, float] = {}
    mem: dict[str, float] = {}
    met: dict[str, float] = {}
    if not args.no_extras:
        perf = speed(all_images)
        perf.update(one_megapixel_defaults(all_images))
        print(json.dumps(perf), flush=True)
        mem = memory(all_images)
        print(json.dumps(mem), flush=True)
        met = metric_speed(all_images)
        print(json.dumps(met), flush=True)
    perf.update(load, load_end=os.getloadavg()[0])
    from .report import render

    text = render(rows, perf, mem, met, args, time.perf_counter() - started)
    print(text)
    (OUT / "engine" / "RESULTS.md").write_text(text)
    if args.write_results:
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
