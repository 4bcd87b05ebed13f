"""Benchmark the local vision provider: `python -m bench.vision [--seed N] [--limit N]`.

Three parts: real photos (does the alt text name the subject, false subjects, time and
memory against the provider before the tagger; `bench.vision.realphotos`), OCR word recall
on rendered 14-32 px screenshot text (`bench.vision.ocr_recall`), and the labelled set from
`bench.vision.dataset` (OCR exact match on photos, face counts, kinds, NSFW false positives,
latency). Writes per-image rows to bench/out/ and the tables to bench/RESULTS-vision.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS-vision.md"
# The kind rules were tuned on the synthetic images of seed 20251127; the default seed
# generates different synthetic images, so their part of the score is held out.
DEFAULT_SEED = 7
TARGETS = {"ocr": 0.90, "kind": 0.90, "nsfw_fp": 0, "ms": 1500.0}


def _quiet() -> None:
    import logging

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def run(seed: int, limit: int | None, threads: int) -> dict[str, Any]:
    from bench.vision.dataset import samples
    from services.vision.providers import get_provider, prepare_image

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    if threads:
        import cv2

        cv2.setNumThreads(threads)
    provider = get_provider("local", {"VISION_LOCAL_THREADS": str(threads)} if threads else {})
    load_ms = (time.perf_counter() - started) * 1000
    rows: list[dict[str, Any]] = []
    for i, sample in enumerate(samples(seed)):
        if limit is not None and i >= limit:
            break
        t0, c0 = time.perf_counter(), time.process_time()
        image = prepare_image(sample.data)
        meta = provider.analyze(image)
        total_ms = (time.perf_counter() - t0) * 1000
        cpu_ms = (time.process_time() - c0) * 1000
        texts = [" ".join(t.text.split()) for t in meta.detected_text]
        rows.append(
            {
                "name": sample.name,
                "source": sample.source,
                "kind": sample.kind,
                "pred_kind": meta.kind,
                "text": sample.text,
                "texts": texts,
                "faces": sample.faces,
                "pred_faces": meta.faces.count,
                "adult": round(meta.safety.adult, 4),
                "verdict": meta.safety.verdict,
                "ms_total": round(total_ms, 1),
                "cpu_ms": round(cpu_ms, 1),
                "ms_analyze": meta.ms,
                "alt_text": meta.alt_text,
            }
        )
    return {
        "seed": seed,
        "load_ms": round(load_ms),
        "model": getattr(provider, "model", ""),
        "loadavg": (round(load_before, 2), round(os.getloadavg()[0], 2)),
        "threads": threads or "auto",
        "rows": rows,
    }


def score(result: dict[str, Any]) -> dict[str, Any]:
    rows = result["rows"]
    ocr = [r for r in rows if r["text"]]
    ocr_hits = [r for r in ocr if r["text"] in r["texts"]]
    ocr_ci = [r for r in ocr if r["text"].lower() in (t.lower() for t in r["texts"])]
    faces = [r for r in rows if r["faces"] is not None]
    face_hits = [r for r in faces if r["faces"] == r["pred_faces"]]
    kinds = [r for r in rows if r["kind"]]
    kind_hits = [r for r in kinds if r["kind"] == r["pred_kind"]]
    nsfw_fp = [r for r in rows if r["verdict"] != "ok"]
    ms = sorted(r["ms_total"] for r in rows)
    cpu = sorted(r["cpu_ms"] for r in rows)
    return {
        "ocr": (len(ocr_hits), len(ocr)),
        "ocr_case_insensitive": (len(ocr_ci), len(ocr)),
        "faces": (len(face_hits), len(faces)),
        "face_mae": statistics.fmean(abs(r["faces"] - r["pred_faces"]) for r in faces),
        "kind": (len(kind_hits), len(kinds)),
        "confusion": Counter(f"{r['kind']}->{r['pred_kind']}" for r in kinds),
        "nsfw_fp": len(nsfw_fp),
        "max_adult": max(r["adult"] for r in rows),
        "images": len(rows),
        "ms_mean": statistics.fmean(ms),
        "ms_p50": ms[len(ms) // 2],
        "ms_p95": ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))],
        "ms_max": ms[-1],
        "cpu_mean": statistics.fmean(cpu),
        "cpu_p95": cpu[min(len(cpu) - 1, round(0.95 * (len(cpu) - 1)))],
        "cpu_max": cpu[-1],
        "misses": {
            "ocr": [(r["name"], r["text"], r["texts"][:3]) for r in ocr if r not in ocr_hits],
            "faces": [
                (r["name"], r["faces"], r["pred_faces"]) for r in faces if r not in face_hits
            ],
            "kind": [(r["name"], r["kind"], r["pred_kind"]) for r in kinds if r not in kind_hits],
            "nsfw": [(r["name"], r["adult"]) for r in nsfw_fp],
        },
    }


def _pct(pair: tuple[int, int]) -> str:
    hits, total = pair
    return f"{hits}/{total} = {100 * hits / total:.1f} %" if total else "n/a"


def _status(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(result: dict[str, Any], s: dict[str, Any]) -> str:
    def rate(pair: tuple[int, int]) -> float:
        return pair[0] / pair[1] if pair[1] else 0.0

    lines = [
        "## The labelled set: OCR on photos, faces, kinds, safety, latency",
        "",
        "Command: `.venv/bin/python -m bench.vision` (outputs: bench/out/vision-*.json).",
        f"Machine: {os.cpu_count()} cores shared with other jobs, {platform.machine()}, "
        f"Python {platform.python_version()}, {result['threads']} inference thread(s). "
        f"Seed {result['seed']}, {s['images']} images; "
        f"model load {result['load_ms']} ms (once per process). Load average (1 min) at "
        f"start / end: {result['loadavg'][0]} / {result['loadavg'][1]}.",
        f"Model: `{result['model']}`.",
        "",
        "| Measure | Result | Target | Status |",
        "|---|---|---|---|",
        f"| OCR exact match, clean rendered text on photos | {_pct(s['ocr'])} | >= 90 % | "
        f"{_status(rate(s['ocr']) >= TARGETS['ocr'])} |",
        f"| OCR match ignoring case | {_pct(s['ocr_case_insensitive'])} | | |",
        f"| Face-count accuracy | {_pct(s['faces'])} (mean abs error {s['face_mae']:.2f}) | | |",
        f"| Kind accuracy (photo/graphic/screenshot/document) | {_pct(s['kind'])} | >= 90 % | "
        f"{_status(rate(s['kind']) >= TARGETS['kind'])} |",
        f"| NSFW false positives (all images are safe) | {s['nsfw_fp']} of {s['images']} "
        f"(max adult score {s['max_adult']:.3f}) | 0 | "
        f"{_status(s['nsfw_fp'] == TARGETS['nsfw_fp'])} |",
        f"| ms per image, decode + analyse: mean / p50 / p95 / max | {s['ms_mean']:.0f} / "
        f"{s['ms_p50']:.0f} / {s['ms_p95']:.0f} / {s['ms_max']:.0f} | <= 1500 | "
        f"{_status(s['ms_mean'] <= TARGETS['ms'])} (mean) |",
        f"| CPU time per image, decode + analyse: mean / p95 / max | {s['cpu_mean']:.0f} / "
        f"{s['cpu_p95']:.0f} / {s['cpu_max']:.0f} ms | <= 1500 | "
        f"{_status(s['cpu_mean'] <= TARGETS['ms'] and s['cpu_p95'] <= TARGETS['ms'])} |",
        "",
        "Kind confusion (label->predicted): "
        + ", ".join(f"{k} {v}" for k, v in sorted(s["confusion"].items())),
        "",
        "## Misses",
        "",
    ]
    for key, items in s["misses"].items():
        lines.append(f"- {key}: " + ("none" if not items else "; ".join(map(str, items))))
    lines += [
        "",
        "## The set",
        "",
        "- 35 corpus files (/work/shared/corpus) with hand labels in `bench/vision/dataset.py`"
        " (faces left unlabelled for the concert crowd and the painting).",
        "- 9 scikit-image sample photos and its scanned `page` (document).",
        "- 30 photos with a phrase rendered in Pillow's bundled font (signs, plates, outlined"
        " captions): the OCR set.",
        "- 16 photos with 0-3 pasted faces (the astronaut's face and upscaled 25x25 LFW faces"
        " shipped in scikit-image): the face-count set.",
        "- 10 generated documents, 10 screenshots (app, web, terminal), 10 graphics (charts,"
        " logos, flat shapes).",
        "- Caveats: the kind rules were tuned on this corpus and on synthetic images of seed"
        " 20251127; this run's synthetic images come from another seed, but the generators"
        " and corpus are shared, so treat kind accuracy as optimistic for real traffic."
        " Generated screenshots always have a top bar, which the rules use.",
        "- NSFW: the set holds no adult content, so only false positives are measured; the"
        " true-positive rate of open_nsfw is not measured here.",
        "- Wall-clock times include other engineers' jobs on the same 2 cores (see the load"
        " average above). With one inference thread, CPU time is what the work costs and"
        " what an idle core would take; it is the figure compared with the 1.5 s target.",
        "",
    ]
    return "\n".join(lines)


def _ocr_lines(by_size: dict[str, tuple[int, int]]) -> list[str]:
    hits = sum(h for h, _ in by_size.values())
    total = sum(t for _, t in by_size.values())
    ok = hits >= 0.95 * total
    lines = [
        "## OCR recall: clear rendered text on screenshots",
        "",
        "Plain 1280 x 800 windows (light and dark theme), 4-6 sentences in DejaVu Sans per "
        "page, two pages per size, decoded and analysed as a job is "
        "(`bench/vision/ocr_recall.py`).",
        "",
        "| text size | words read / rendered |",
        "|---|---|",
    ]
    for size, pair in by_size.items():
        lines.append(f"| {size} px | {_pct(pair)} |")
    lines += [
        f"| **all (target >= 95 %)** | **{_pct((hits, total))}** {_status(ok)} |",
        "",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vision")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--limit", type=int, default=None, help="analyse only the first N")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite RESULTS file")
    parser.add_argument(
        "--part",
        choices=("all", "photos", "ocr", "set"),
        default="all",
        help="run one part only (the RESULTS file is rewritten only for all)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="inference threads (0 = library default); 1 makes CPU time equal idle wall time",
    )
    args = parser.parse_args()
    _quiet()
    OUT.mkdir(parents=True, exist_ok=True)
    parts: dict[str, list[str]] = {}
    # The labelled set runs first so that its model-load figure is a cold load.
    if args.part in ("all", "set"):
        result = run(args.seed, args.limit, args.threads)
        summary = score(result)
        (OUT / "vision-rows.json").write_text(json.dumps(result, indent=1))
        (OUT / "vision-summary.json").write_text(json.dumps(summary, indent=1, default=str))
        parts["set"] = [render(result, summary)]
    if args.part in ("all", "photos"):
        from bench.vision import realphotos

        photo_result = realphotos.run()
        (OUT / "vision-photos.json").write_text(json.dumps(photo_result, indent=1, default=str))
        parts["photos"] = [*realphotos.render(photo_result), ""]
    if args.part in ("all", "ocr"):
        from bench.vision import ocr_recall, small_text
        from services.vision.providers.local.ocr import DET_SIDE

        parts["ocr"] = _ocr_lines(ocr_recall.run()) + small_text.render(small_text.run(), DET_SIDE)
    sections = ["# Vision benchmark: local provider", ""]
    for name in ("photos", "ocr", "set"):
        sections += parts.get(name, [])
    report = "\n".join(sections)
    if not args.no_write and args.part == "all":
        RESULTS.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
