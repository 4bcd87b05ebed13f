"""`picopt optimize`: the engine on local files, no services needed.

Each file runs through the same isolated decoder as a worker's job, with the same `ENGINE_*`
ceilings (memory, time, pixels, frames, bytes): a hostile file fails with the same code as in
the service, and one failing file never costs the others of the same run their outputs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from picopt import formats
from picopt.kernel import logs
from picopt.kernel.settings import Env
from services.processor.engine import (
    EngineError,
    Limits,
    OptimizedImage,
    OptimizeOptions,
    OptimizeResult,
    optimize_isolated,
)

QUALITY_CHOICES = "|".join((*formats.QUALITY_WORDS, "1-100"))
FORMAT_CHOICES = ("auto", *formats.REQUESTABLE)
REPORT_KEYS = (
    "input",
    "output",
    "format_in",
    "format_out",
    "bytes_in",
    "bytes_out",
    "width",
    "height",
    "ssimulacra2",
    "no_gain",
    "larger_reason",
    "ms",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "optimize", help="Make images smaller at a guaranteed visual quality."
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", type=Path)
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("-o", "--output", type=Path, help="output file (one input only)")
    dest.add_argument("--out-dir", type=Path, help="directory for the outputs")
    p.add_argument("--format", default="auto", choices=FORMAT_CHOICES)
    p.add_argument("--accept", default="", help="formats allowed for --format auto, e.g. webp,jpeg")
    p.add_argument("--quality", default="auto", type=_quality, help=QUALITY_CHOICES)
    p.add_argument("--width", type=_positive)
    p.add_argument("--height", type=_positive)
    p.add_argument("--fit", default=formats.DEFAULT_FIT, choices=formats.FITS)
    p.add_argument("--enlarge", action="store_true", help="let --width/--height upscale")
    p.add_argument(
        "--widths",
        type=_widths,
        default=(),
        help=f"responsive variants, e.g. 480,960 (at most {formats.MAX_WIDTHS}); "
        "each is written as NAME-<width>w.<ext>",
    )
    p.add_argument(
        "--placeholder", action="store_true", help="report a BlurHash and a tiny data URI"
    )
    p.add_argument(
        "--keep-metadata", default=formats.DEFAULT_KEEP_METADATA, choices=formats.KEEP_METADATA
    )
    p.add_argument(
        "--effort",
        default=formats.DEFAULT_EFFORT,
        choices=formats.EFFORTS,
        help="CPU spent for fewer bytes at the same quality (default: balanced)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per input on stdout")
    p.set_defaults(func=run)


def _quality(value: str) -> str:
    if formats.is_quality(value):
        return value.strip().lower()
    raise argparse.ArgumentTypeError(f"expected {QUALITY_CHOICES}")


def _positive(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= formats.MAX_DIMENSION:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {formats.MAX_DIMENSION}"
        )
    return int(value)


def _widths(value: str) -> tuple[int, ...]:
    widths = tuple(_positive(w.strip()) for w in value.split(",") if w.strip())
    if not widths or len(widths) > formats.MAX_WIDTHS:
        raise argparse.ArgumentTypeError(f"expected 1 to {formats.MAX_WIDTHS} widths, e.g. 480,960")
    return widths


def run(args: argparse.Namespace) -> int:
    logs.configure("picopt-cli", level="warning")
    if args.output is not None and len(args.inputs) != 1:
        print("picopt optimize: -o takes exactly one input; use --out-dir", file=sys.stderr)
        return 2
    options = OptimizeOptions(
        format=args.format,
        accept=tuple(f.strip().lower() for f in args.accept.split(",") if f.strip()),
        quality=args.quality,
        width=args.width,
        height=args.height,
        fit=args.fit,
        enlarge=args.enlarge,
        widths=args.widths,
        keep_metadata=args.keep_metadata,
        placeholder=args.placeholder,
        effort=args.effort,
    )
    limits = Limits.from_env(Env())
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in args.inputs:
        report = _one(path, args.output, args.out_dir, options, limits)
        failures += "error" in report
        _print(report, args.json)
    return 1 if failures else 0


def _one(
    path: Path,
    output: Path | None,
    out_dir: Path | None,
    options: OptimizeOptions,
    limits: Limits,
) -> dict[str, object]:
    """Optimise one file and write its outputs; every failure becomes the report's `error`."""
    started = time.perf_counter()
    report: dict[str, object] = dict.fromkeys(REPORT_KEYS)
    report["input"] = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        report["error"] = {"code": "unreadable", "message": exc.strerror or str(exc)}
        return report
    report["bytes_in"] = len(data)
    try:
        result = optimize_isolated(data, options, limits)
        written = _write(result, path, output, out_dir)
    except EngineError as exc:
        report["error"] = {"code": exc.code, "message": exc.message}
    except OSError as exc:
        report["error"] = {"code": "unwritable", "message": exc.strerror or str(exc)}
    else:
        main = result.main
        report.update(
            output=str(written[0]),
            format_in=result.format_in,
            format_out=main.format,
            bytes_out=len(main.data),
            width=main.width,
            height=main.height,
            ssimulacra2=main.ssimulacra2,
            no_gain=main.no_gain,
            larger_reason=main.larger_reason,
        )
        if options.widths:
            report["variants"] = [
                _variant(out, target)
                for out, target in zip(result.outputs[1:], written[1:], strict=True)
            ]
        if options.placeholder:
            report["placeholder"] = {"blurhash": result.blurhash, "lqip": result.lqip}
    report["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return report


def _write(
    result: OptimizeResult, path: Path, output: Path | None, out_dir: Path | None
) -> list[Path]:
    """Write the main output (never over the input) and each variant as NAME-<width>w.<ext>."""
    main = result.main
    suffix = "." + formats.extension(main.format)
    target = output or (out_dir or path.parent) / (path.stem + suffix)
    if target.resolve() == path.resolve():
        target = target.with_name(path.stem + ".min" + suffix)
    targets = [target]
    for variant in result.outputs[1:]:
        name = f"{target.stem}-{variant.width}w.{formats.extension(variant.format)}"
        targets.append(target.with_name(name))
    for out, where in zip(result.outputs, targets, strict=True):
        where.write_bytes(out.data)
    return targets


def _variant(out: OptimizedImage, target: Path) -> dict[str, object]:
    return {
        "output": str(target),
        "format": out.format,
        "bytes": len(out.data),
        "width": out.width,
        "height": out.height,
        "larger_reason": out.larger_reason,
    }


def _print(report: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report), flush=True)
        return
    if "error" in report:
        err = report["error"]
        assert isinstance(err, dict)
        print(f"{report['input']}: {err['code']}: {err['message']}", file=sys.stderr)
        return
    ratio = int(report["bytes_out"]) / max(1, int(report["bytes_in"]))  # type: ignore[call-overload]
    print(
        f"{report['input']} -> {report['output']} ({report['format_out']}, "
        f"{report['bytes_in']} -> {report['bytes_out']} bytes, {ratio:.0%}, "
        f"SSIMULACRA2 {report['ssimulacra2']})"
    )
