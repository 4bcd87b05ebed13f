"""Staff command for dead letters: `python -m picopt.kernel.messaging.dlq COMMAND`.

Talks to the broker at AMQP_URL. Listings never show personal data (event type, id, age,
attempts, reason, error class); `show` redacts every free-text field of the payload.
Exit status 1 when the queue or message is not found.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from picopt.kernel.messaging.deadletters import DeadLetter, DeadLetterQueues
from picopt.kernel.messaging.policy import DeadLetterPolicy
from picopt.kernel.settings import Settings


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _letters(letters: Sequence[DeadLetter]) -> str:
    lines = [f"{'event id':36}  {'type':18}  {'age':>6}  {'tries':>5}  reason / error"]
    for m in letters:
        lines.append(
            f"{m.event_id:36}  {m.event_type:18}  {_age(m.age_s):>6}  {m.attempts or '?':>5}  "
            f"{m.reason or '-'} / {m.error or '-'}"
            + (f"  (replayed {m.replayed}x)" if m.replayed else "")
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m picopt.kernel.messaging.dlq", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    commands = parser.add_subparsers(dest="command", required=True)
    queues = commands.add_parser("queues", help="every DLQ with its depth and oldest message age")
    queues.add_argument("--service", help="only this service's DLQs")
    listing = commands.add_parser("list", help="the messages of DLQs (all non-empty by default)")
    listing.add_argument("queue", nargs="*")
    listing.add_argument("--service", help="only this service's DLQs")
    show = commands.add_parser("show", help="one message: envelope, headers, redacted payload")
    show.add_argument("queue")
    show.add_argument("event_id")
    for name, what in (
        ("replay", "send messages back to their queue"),
        ("purge", "delete messages"),
    ):
        act = commands.add_parser(name, help=what)
        act.add_argument("queue")
        act.add_argument("event_id", nargs="*")
        act.add_argument("--all", action="store_true", help="every message of the queue")
    return parser


def run(args: argparse.Namespace, letters: DeadLetterQueues) -> tuple[int, Any, str]:
    """(exit status, JSON-able result, text) of one command."""
    if args.command == "queues":
        depths = letters.depths(letters.find(args.service))
        text = "\n".join(
            [f"{'queue':60}  {'depth':>6}  oldest"]
            + [f"{d.queue:60}  {d.depth:>6}  {_age(d.oldest_age_s)}" for d in depths]
        )
        return 0, [d.as_dict() for d in depths], text
    if args.command == "list":
        queues = args.queue or letters.find(args.service)
        found = [m for q in queues for m in letters.messages(q)]
        return 0, [m.as_dict() for m in found], _letters(found)
    if args.command == "show":
        detail = letters.show(args.queue, args.event_id)
        if detail is None:
            return 1, None, f"{args.event_id} not found in {args.queue}"
        return 0, detail.as_dict(), json.dumps(detail.as_dict(), indent=2, default=str)
    if not args.all and not args.event_id:
        return 2, None, f"{args.command}: name event ids or pass --all"
    ids = None if args.all else args.event_id
    act = letters.replay if args.command == "replay" else letters.purge
    done = act(args.queue, ids)
    missing = sorted(set(ids or ()) - {m.event_id for m in done})
    text = f"{args.command}: {len(done)} message(s)" + (
        f"; not found: {', '.join(missing)}" if missing else ""
    )
    return (1 if missing else 0), [m.as_dict() for m in done], text


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.load("staff")
    letters = DeadLetterQueues(settings.amqp_url, policy=DeadLetterPolicy.from_env(settings.env))
    try:
        status, result, text = run(args, letters)
    except KeyError as err:
        status, result, text = 1, None, str(err.args[0] if err.args else err)
    if status == 0 and args.json:
        print(json.dumps(result, indent=2, default=str))
    elif status == 0:
        print(text)
    else:
        print(f"dlq: {text}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
