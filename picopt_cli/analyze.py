"""`picopt analyze IMAGE...`: run a vision provider on files, without the services.

Exit codes: 0 all analysed, 1 some image could not be read or analysed, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import structlog


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="describe images with a vision provider (alt text, tags, text, faces, safety)",
        description="Run a vision provider on image files and print the metadata.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files to analyse")
    parser.add_argument(
        "--provider",
        default="",
        help="local, openai, anthropic or gemini (default: $VISION_PROVIDER, else local)",
    )
    parser.add_argument("--language", default="en", help="language for the text (default en)")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per image, one per line"
    )
    parser.add_argument("--verbose", action="store_true", help="log progress to stderr")
    parser.set_defaults(func=run)


def _quiet_logs(verbose: bool) -> None:
    """Keep stdout for results: logs go to stderr, and only warnings unless --verbose."""
    level = logging.INFO if verbose else logging.WARNING
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Looked up per call, so a replaced sys.stderr (tests, pipes) is honoured.
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
    )


def _error(message: str) -> None:
    print(f"picopt analyze: {message}", file=sys.stderr)


def _to_dict(path: str, meta: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    body = MessageToDict(
        meta, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return {"image": path, **body}


def _print_human(path: str, meta: Any) -> None:
    print(f"{path}")
    print(f"  alt text : {meta.alt_text}")
    print(f"  caption  : {meta.caption}")
    print(f"  kind     : {meta.kind}    size: {meta.width}x{meta.height}")
    tags = ", ".join(f"{t.label} ({t.confidence:.2f})" for t in meta.tags)
    print(f"  tags     : {tags}")
    for item in meta.detected_text:
        print(f"  text     : {item.text!r} ({item.confidence:.2f})")
    print(f"  faces    : {meta.faces.count}")
    colors = ", ".join(f"{c.hex} {c.share:.0%}" for c in meta.colors)
    print(f"  colours  : {colors}")
    q = meta.quality
    flags = [n for n in ("blurry", "underexposed", "overexposed", "noisy") if getattr(q, n)]
    print(
        f"  quality  : sharpness {q.sharpness:.2f}, brightness {q.brightness:.2f}"
        f"{', ' + ', '.join(flags) if flags else ''}"
    )
    s = meta.safety
    print(f"  safety   : {s.verdict} (adult {s.adult:.2f}, racy {s.racy:.2f})")
    print(f"  filename : {meta.suggested_filename}")
    print(f"  provider : {meta.provider} / {meta.model} in {meta.ms} ms")
    if meta.usage.input_tokens or meta.usage.output_tokens:
        u = meta.usage
        print(f"  usage    : {u.input_tokens} in, {u.output_tokens} out, ${u.cost_usd:.5f}")


def run(args: argparse.Namespace) -> int:
    _quiet_logs(args.verbose)
    from services.vision.providers import (
        UnknownProviderError,
        UnreadableImageError,
        get_provider,
        prepare_image,
    )

    try:
        provider = get_provider(args.provider)
    except UnknownProviderError as exc:
        _error(str(exc))
        return 2
    except (ValueError, RuntimeError) as exc:
        _error(f"provider {args.provider or 'default'} is not usable: {exc}")
        return 2

    try:
        return _analyze_all(args, provider, prepare_image, UnreadableImageError)
    except BrokenPipeError:
        # The reader went away (`| head`); stop quietly like other Unix tools.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


def _analyze_all(
    args: argparse.Namespace, provider: Any, prepare_image: Any, unreadable: type[Exception]
) -> int:
    status = 0
    for path in args.images:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            _error(f"{path}: cannot read file ({exc.strerror or type(exc).__name__})")
            status = 1
            continue
        try:
            meta = provider.analyze(prepare_image(data), language=args.language)
        except unreadable:
            _error(f"{path}: not a readable image")
            status = 1
            continue
        if args.json:
            print(json.dumps(_to_dict(path, meta), ensure_ascii=False), flush=True)
        else:
            _print_human(path, meta)
    return status
