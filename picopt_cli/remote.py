"""`picopt jobs | balance | usage | export`: read your account through the public API.

picopt jobs [--limit N] [--cursor C] [--json]     newest first; prints the next cursor
picopt balance [--json]
picopt usage [--group day|job] [--limit N] [--cursor C] [--json]
picopt export [--out FILE] [--timeout S]          request, wait for and save the zip
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from picopt_cli.remote_config import CliError, client, handles_errors, note, remote


def register(subparsers: argparse._SubParsersAction) -> None:
    jobs = subparsers.add_parser("jobs", help="Your jobs, newest first.")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--cursor", help="the cursor printed after the previous page")
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(func=_jobs)

    balance = subparsers.add_parser("balance", help="Your credit balance.")
    balance.add_argument("--json", action="store_true")
    balance.set_defaults(func=_balance)

    usage = subparsers.add_parser("usage", help="Credits used per day or per job.")
    usage.add_argument("--group", choices=("day", "job"), default="day")
    usage.add_argument("--limit", type=int, default=30)
    usage.add_argument("--cursor")
    usage.add_argument("--json", action="store_true")
    usage.set_defaults(func=_usage)

    export = subparsers.add_parser("export", help="Download everything the service holds on you.")
    export.add_argument(
        "--out", type=Path, help="zip file to write (default: picopt-export-ID.zip)"
    )
    export.add_argument("--timeout", type=float, default=300.0)
    export.set_defaults(func=_export)
    for parser in (jobs, balance, usage, export):
        parser.add_argument("--url", help="service URL (default: PICOPT_URL or the stored one)")


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _kb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:.1f} KB"


@handles_errors
def _jobs(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 100:
        raise CliError("--limit must be from 1 to 100")
    page = client(remote(args.url)).jobs(limit=args.limit, cursor=args.cursor)
    if args.json:
        _print_json(page)
        return 0
    table = Table(title="jobs")
    for column in ("id", "created", "file", "status", "format", "before", "after", "saved"):
        table.add_column(column, overflow="fold")
    for job in page["jobs"]:
        out = job.get("output") or {}
        table.add_row(
            job["id"],
            (job.get("created_at") or "")[:19].replace("T", " "),
            job["input"]["name"],
            job["status"],
            f"{job['input']['format']} -> {out['format']}" if out else job["input"]["format"],
            _kb(job["input"]["bytes"]),
            _kb(out.get("bytes")),
            f"{out['saving_percent']}%" if out.get("saving_percent") is not None else "-",
        )
    Console(width=160).print(table)
    if page.get("next_cursor"):
        print(f"more: picopt jobs --cursor {page['next_cursor']}")
    return 0


@handles_errors
def _balance(args: argparse.Namespace) -> int:
    balance = client(remote(args.url)).balance()
    if args.json:
        _print_json(balance)
        return 0
    print(
        f"available {balance['available']} credits "
        f"(free {balance['granted']}, purchased {balance['purchased']}; "
        f"{balance['reserved']} held by running jobs)"
    )
    return 0


@handles_errors
def _usage(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 100:
        raise CliError("--limit must be from 1 to 100")
    page = client(remote(args.url)).usage(group=args.group, limit=args.limit, cursor=args.cursor)
    if args.json:
        _print_json(page)
        return 0
    table = Table(title=f"credits per {args.group}")
    first = "day" if args.group == "day" else "job"
    for column in (first, "credits", "jobs"):
        table.add_column(column)
    for item in page["items"]:
        table.add_row(item["day"] or item["job_id"] or "-", str(item["credits"]), str(item["jobs"]))
    Console(width=160).print(table)
    if page.get("next_cursor"):
        print(f"more: picopt usage --group {args.group} --cursor {page['next_cursor']}")
    return 0


@handles_errors
def _export(args: argparse.Namespace) -> int:
    api = client(remote(args.url))
    request = api.request_export()
    note(f"export {request['id']} requested; waiting for the archive")
    deadline = time.monotonic() + args.timeout
    while (archive := api.export(request["id"])) is None:
        if time.monotonic() > deadline:
            raise CliError(
                f"the export was not ready after {args.timeout:.0f} s; "
                f"it stays requested (id {request['id']}): try again later"
            )
        time.sleep(1.0)
    out = args.out or Path(f"picopt-export-{request['id']}.zip")
    out.write_bytes(archive)
    print(f"saved {out} ({len(archive)} bytes)")
    return 0
