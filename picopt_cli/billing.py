"""`picopt billing`: staff tools over billing's gRPC API (BILLING_ADDR).

  picopt billing adjust USER_ID CREDITS --reason "..."   grant (+) or remove (-) credits
  picopt billing balance USER_ID
  picopt billing ledger USER_ID [--json]
  picopt billing reconcile [--since 2026-01-01] [--json]  exit code 1 when mismatches exist

Run it where the billing service is reachable (e.g. `kubectl exec` into a billing pod);
the gRPC API is internal and never exposed by the gateway. `adjust` and `reconcile` send
the staff token (BILLING_STAFF_TOKEN, else var/billing-staff.token on a one-machine run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc

from picopt.billing.v1 import billing_pb2, billing_pb2_grpc
from picopt.kernel.errors import error_code
from picopt.kernel.grpc_client import service_channel
from picopt.kernel.protos import from_timestamp, to_timestamp
from picopt.kernel.settings import Settings
from picopt.kernel.staff import staff_metadata, staff_token


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("billing", help="Staff tools: credits, ledgers, reconciliation.")
    p.add_argument("--billing-addr", help="billing gRPC address (default: BILLING_ADDR)")
    sub = p.add_subparsers(dest="billing_command", required=True)

    adjust = sub.add_parser("adjust", aliases=["grant"], help="add or remove credits")
    adjust.add_argument("user_id")
    adjust.add_argument("credits", type=int, help="positive to add, negative to remove")
    adjust.add_argument("--reason", required=True, help="why (kept in the ledger)")
    adjust.add_argument("--key", default="", help="idempotency key (repeat-safe); default: new")
    adjust.set_defaults(func=_adjust)

    balance = sub.add_parser("balance", help="a user's balance")
    balance.add_argument("user_id")
    balance.set_defaults(func=_balance)

    ledger = sub.add_parser("ledger", help="a user's ledger entries, oldest first")
    ledger.add_argument("user_id")
    ledger.add_argument("--json", action="store_true")
    ledger.set_defaults(func=_ledger)

    rec = sub.add_parser("reconcile", help="compare purchases with Stripe's payments")
    rec.add_argument("--since", type=_date, help="only purchases created since (ISO date)")
    rec.add_argument("--json", action="store_true")
    rec.set_defaults(func=_reconcile)


def _date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _settings(args: argparse.Namespace) -> Settings:
    env = dict(os.environ)
    if args.billing_addr:
        env["BILLING_ADDR"] = args.billing_addr
    return Settings.load("billing", env)


def _stub(args: argparse.Namespace) -> Any:
    channel = service_channel(_settings(args), "billing", deadline_s=30.0)
    return billing_pb2_grpc.BillingServiceStub(channel)


def _staff(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    return staff_metadata(staff_token(_settings(args), "billing"))


def _run(args: argparse.Namespace, call: Any) -> int:
    try:
        return int(call(_stub(args)))
    except grpc.RpcError as err:
        code = error_code(err) or err.code().name.lower()
        print(f"error: {code}: {err.details()}", file=sys.stderr)
        return 2


def _adjust(args: argparse.Namespace) -> int:
    def call(stub: Any) -> int:
        reply = stub.AdjustCredits(
            billing_pb2.AdjustCreditsRequest(
                user_id=args.user_id,
                credits=args.credits,
                reason=args.reason,
                idempotency_key=args.key or str(uuid.uuid4()),
            ),
            metadata=_staff(args),
        )
        print(f"available={reply.available} granted={reply.granted} purchased={reply.purchased}")
        return 0

    return _run(args, call)


def _balance(args: argparse.Namespace) -> int:
    def call(stub: Any) -> int:
        b = stub.GetBalance(billing_pb2.GetBalanceRequest(user_id=args.user_id))
        print(
            f"available={b.available} reserved={b.reserved} "
            f"granted={b.granted} purchased={b.purchased}"
        )
        return 0

    return _run(args, call)


def _ledger(args: argparse.Namespace) -> int:
    def call(stub: Any) -> int:
        entries = stub.ListLedger(billing_pb2.ListLedgerRequest(user_id=args.user_id)).entries
        rows = [
            {
                "at": _iso(e.created_at),
                "kind": e.kind,
                "bucket": e.bucket,
                "credits": e.credits,
                "job_id": e.job_id or None,
                "purchase_id": e.purchase_id or None,
                "reason": e.reason,
            }
            for e in entries
        ]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        total = 0
        for r in rows:
            total += r["credits"]
            ref = r["job_id"] or r["purchase_id"] or ""
            print(
                f"{r['at']}  {r['kind']:<8} {r['bucket']:<9} {r['credits']:>+7}  "
                f"{total:>7}  {ref} {r['reason']}".rstrip()
            )
        print(f"balance {total} in {len(rows)} entries")
        return 0

    return _run(args, call)


def _reconcile(args: argparse.Namespace) -> int:
    def call(stub: Any) -> int:
        request = billing_pb2.ReconcileRequest()
        if args.since:
            request.since.CopyFrom(to_timestamp(args.since))
        reply = stub.Reconcile(request, timeout=300, metadata=_staff(args))
        found = [
            {
                "purchase_id": m.purchase_id,
                "payment_intent_id": m.payment_intent_id,
                "kind": m.kind,
                "detail": m.detail,
            }
            for m in reply.mismatches
        ]
        if args.json:
            print(json.dumps({"checked": reply.checked, "mismatches": found}, indent=2))
        else:
            for m in found:
                print(f"{m['kind']:<20} {m['purchase_id']} {m['payment_intent_id']}  {m['detail']}")
            print(f"checked {reply.checked} purchases; {len(found)} mismatches")
        return 1 if found else 0

    return _run(args, call)


def _iso(ts: Any) -> str:
    value = from_timestamp(ts)
    return value.isoformat(timespec="seconds") if value else ""
