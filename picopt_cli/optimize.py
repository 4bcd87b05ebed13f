"""`picopt optimize`: the engine on local files, no services needed."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from picopt import formats
from picopt.kernel import logs
from services.processor.engine import EngineError, OptimizeOptions, optimize

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
    p.add_argument(
        "--keep-metadata", default=formats.DEFAULT_KEEP_METADATA, choices=formats.KEEP_METADATA
    )
    p.add_argument("--json", action="store_true", help="one JSON object per input on stdout")
    p.set_defaults(func=run)


def _quality(value: str) -> str:
    if formats.is_quality(value):
        return value.strip().lower()
    raise argparse.ArgumentTypeError(f"expected {QUALITY_CHOICES}")


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError("expected a positive whole number")
    return int(value)


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
        keep_metadata=args.keep_metadata,
    )
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in args.inputs:
        report = _one(path, args.output, args.out_dir, options)
        failures += "error" in report
        _print(report, args.json)
    return 1 if failures else 0


def _one(
    path: Path, output: Path | None, out_dir: Path | None, options: OptimizeOptions
) -> dict[str, object]:
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
        result = optimize(data, options)
    except EngineError as exc:
        report["error"] = {"code": exc.code, "message": exc.message}
        report["ms"] = round((time.perf_counter() - started) * 1000, 1)
        return report
    main = result.main
    suffix = "." + formats.extension(main.format)
    target = output or (out_dir or path.parent) / (path.stem + suffix)
    if target.resolve() == path.resolve():
        target = target.with_name(path.stem + ".min" + suffix)
    try:
        target.write_bytes(main.data)
    except OSError as exc:
        report["error"] = {"code": "unwritable", "message": exc.strerror or str(exc)}
        return report
    report.update(
        output=str(target),
        format_in=result.format_in,
        format_out=main.format,
        bytes_out=len(main.data),
        width=main.width,
        height=main.height,
        ssimulacra2=main.ssimulacra2,
        no_gain=main.no_gain,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return report


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
