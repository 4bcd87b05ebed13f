"""The `picopt` command: one entry point, one module per sub-command."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines `register(subparsers)`; the parser it adds sets `func`.
COMMAND_MODULES = (
    "picopt_cli.optimize",
    "picopt_cli.analyze",
    "picopt_cli.billing",
    "picopt_cli.login",
    "picopt_cli.push",
    "picopt_cli.remote",
)


_OWN_PACKAGES = ("picopt", "picopt_cli", "services")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="picopt", description="Picture Optimizer")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # A command whose libraries this install lacks is left out: a service image
            # without the `cli` extra still runs its staff commands (`picopt billing`).
            if exc.name == name or (exc.name or "").split(".")[0] not in _OWN_PACKAGES:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
