"""`picopt push FILES... [--out-dir DIR] [options]`: optimize images through the service.

Uploads run in parallel with a progress bar per file; each result is
downloaded into --out-dir (default ./optimized) as soon as it is ready, and a
summary table follows. Exit code 0 when every file came back, 1 otherwise.
A file that fails (unreadable, too large, out of credits) does not stop the
others, and nothing is ever written over an input file.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
from rich.table import Table

from picopt import formats
from picopt.client import ApiError, Client
from picopt_cli.remote_config import CliError, client, explain, handles_errors, remote

FORMATS = ("auto", *formats.REQUESTABLE)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("push", help="Optimize images through the service.")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--out-dir", type=Path, default=Path("optimized"), help="default: ./optimized")
    p.add_argument("--url", help="service URL (default: PICOPT_URL or the stored one)")
    p.add_argument("--format", choices=FORMATS, default="auto")
    p.add_argument("--accept", help="comma list of formats you accept (with --format auto)")
    p.add_argument("--quality", default="auto", help=f"{', '.join(formats.QUALITY_WORDS)} or 1-100")
    p.add_argument(
        "--effort", choices=formats.EFFORTS, help="CPU spent for fewer bytes (default: balanced)"
    )
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--fit", choices=formats.FITS)
    p.add_argument("--enlarge", action="store_true", help="let --width/--height upscale")
    p.add_argument("--keep-metadata", choices=formats.KEEP_METADATA)
    p.add_argument("--no-ai", action="store_true", help="skip AI metadata (costs less)")
    p.add_argument("--parallel", type=int, default=4, help="uploads at once (default 4)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait per image")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_push)


@dataclass
class Outcome:
    source: Path
    ok: bool = False
    message: str = ""
    job: dict[str, Any] | None = None
    saved_to: Path | None = None


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "format": args.format,
        "accept": args.accept,
        "quality": args.quality,
        "effort": args.effort,
        "width": args.width,
        "height": args.height,
        "fit": args.fit,
        "enlarge": True if args.enlarge else None,
        "keep_metadata": args.keep_metadata,
        "metadata": not args.no_ai,
    }
    return {k: v for k, v in options.items() if v is not None}


def _destination(out_dir: Path, job: dict[str, Any], inputs: set[Path], taken: set[Path]) -> Path:
    """`<stem>.<format>` in out_dir; never an input file, never one written in this run."""
    stem = Path(job["input"]["name"] or job["id"]).stem
    ext = formats.extension(job["output"]["format"])
    candidate = out_dir / f"{stem}.{ext}"
    counter = 1
    while candidate.resolve() in inputs or candidate.resolve() in taken:
        counter += 1
        candidate = out_dir / f"{stem}-{counter}.{ext}"
    taken.add(candidate.resolve())
    return candidate


class Pusher:
    def __init__(self, api: Client, args: argparse.Namespace, progress: Progress) -> None:
        self.api = api
        self.args = args
        self.progress = progress
        self.options = _options(args)
        self.inputs = {f.resolve() for f in args.files}
        self.taken: set[Path] = set()
        self.lock = threading.Lock()

    def one(self, source: Path) -> Outcome:
        outcome = Outcome(source)
        data = source.read_bytes()
        task = self.progress.add_task(source.name, total=len(data) or 1, state="uploading")
        try:
            submitted = self.api.submit(
                data,
                filename=source.name,
                progress=lambda sent, size: self.progress.update(task, completed=sent, total=size),
                **self.options,
            )
            self.progress.update(task, state="processing")
            job = self.api.wait(submitted["id"], timeout=self.args.timeout, interval=0.5)
            outcome.job = job
            if job["status"] != "done":
                error = job.get("error") or {}
                outcome.message = error.get("message") or "processing failed"
                self.progress.update(task, state="[red]failed")
                return outcome
            self.progress.update(task, state="downloading")
            result = self.api.download(job["id"])
            with self.lock:
                target = _destination(self.args.out_dir, job, self.inputs, self.taken)
            target.write_bytes(result)
            outcome.ok, outcome.saved_to = True, target
            self.progress.update(task, state="[green]done")
        except ApiError as err:
            outcome.message = explain(err, self.api.base_url)
            self.progress.update(task, state="[red]failed")
        except TimeoutError as err:
            outcome.message = str(err)
            self.progress.update(task, state="[red]timed out")
        return outcome


def _check_files(files: list[Path]) -> None:
    problems = [
        f"{f}: no such file" if not f.exists() else f"{f}: not a file"
        for f in files
        if not f.is_file()
    ]
    if problems:
        raise CliError("; ".join(problems) + " (nothing was uploaded)")


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"


def _summary(outcomes: list[Outcome], console: Console) -> None:
    table = Table(title="picopt push")
    for column in (
        "file",
        "result",
        "before",
        "after",
        "saved",
        "format",
        "SSIMULACRA2",
        "saved to",
    ):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        job, out = o.job or {}, (o.job or {}).get("output") or {}
        table.add_row(
            o.source.name,
            "ok" if o.ok else f"[red]failed: {o.message}",
            _size((job.get("input") or {}).get("bytes")),
            _size(out.get("bytes")) if o.ok else "-",
            f"{out.get('saving_percent')}%" if o.ok else "-",
            f"{job['input']['format']} -> {out['format']}" if o.ok else "-",
            str(out.get("ssimulacra2") or "-") if o.ok else "-",
            str(o.saved_to or "-"),
        )
    console.print(table)
    done = [o for o in outcomes if o.ok]
    before = sum(o.job["input"]["bytes"] for o in done if o.job)
    after = sum(o.job["output"]["bytes"] for o in done if o.job)
    if before:
        console.print(
            f"{len(done)} of {len(outcomes)} optimized: {_size(before)} -> {_size(after)} "
            f"({100 * (1 - after / before):.1f}% smaller)"
        )
    else:
        console.print(f"0 of {len(outcomes)} optimized")


@handles_errors
def _push(args: argparse.Namespace) -> int:
    _check_files(args.files)
    if args.parallel < 1:
        raise CliError("--parallel must be at least 1")
    target = remote(args.url)
    api = client(target, timeout=max(60.0, args.timeout))
    api.balance()  # fail fast (network, key) before any upload starts
    args.out_dir.mkdir(parents=True, exist_ok=True)
    errors = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[state]}"),
    )
    with Progress(*columns, console=errors, transient=False) as progress:
        pusher = Pusher(api, args, progress)
        with ThreadPoolExecutor(args.parallel) as pool:
            outcomes = list(pool.map(pusher.one, args.files))
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "file": str(o.source),
                        "ok": o.ok,
                        "error": o.message or None,
                        "saved_to": str(o.saved_to) if o.saved_to else None,
                        "job": o.job,
                    }
                    for o in outcomes
                ],
                indent=2,
            )
        )
    else:
        _summary(outcomes, Console(width=None if sys.stdout.isatty() else 160))
    return 0 if all(o.ok for o in outcomes) else 1
