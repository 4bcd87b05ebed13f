"""`picopt login`: store an API key (and the service URL) for the other remote commands.

  picopt login [--url URL]                 paste an existing API key (prompt or stdin)
  picopt login [--url URL] --email EMAIL   sign in with your password; a new key is created

The key is checked against the service before it is written to the config
file (mode 0600). PICOPT_URL and PICOPT_API_KEY override the file.
"""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import sys

from picopt.client import ApiError, Client
from picopt_cli.remote_config import (
    DEFAULT_URL,
    CliError,
    Remote,
    client,
    handles_errors,
    read_config,
    write_config,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("login", help="Store an API key for the remote commands.")
    p.add_argument("--url", help=f"service URL (default: PICOPT_URL or {DEFAULT_URL})")
    p.add_argument("--email", help="sign in with email and password and create a new key")
    p.set_defaults(func=_login)


def _secret(prompt: str) -> str:
    """From the terminal without echo, or the first line of stdin when piped."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt).strip()
    return sys.stdin.readline().strip()


@handles_errors
def _login(args: argparse.Namespace) -> int:
    url = (
        args.url or os.environ.get("PICOPT_URL") or read_config().get("url") or DEFAULT_URL
    ).rstrip("/")
    if args.email:
        password = _secret("Password: ")
        web = Client(url)
        try:
            web.login(args.email, password)
        except ApiError as err:
            if err.status == 401:
                raise CliError("wrong email or password") from err
            raise
        key = web.create_api_key(f"picopt CLI on {socket.gethostname()}"[:100])
        web.logout()
    else:
        key = _secret("API key: ")
    if not key:
        raise CliError("no API key given")
    user = client(Remote(url, key)).account()
    path = write_config(url, key)
    print(f"signed in to {url} as {user['name'] or user['id']}; key stored in {path}")
    return 0
