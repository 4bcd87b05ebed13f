"""Where the remote commands find the service and the API key, and how they report failures.

Order: PICOPT_URL / PICOPT_API_KEY in the environment, then the config file
written by `picopt login` ($XDG_CONFIG_HOME/picopt/config.json, else
~/.config/picopt/config.json, mode 0600), then the local default URL.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picopt.client import ApiError, Client

DEFAULT_URL = "http://127.0.0.1:8080"
RATE_LIMIT_RETRIES = 5


class CliError(Exception):
    """A failure the user can act on; printed as one line, exit code 1."""


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "picopt" / "config.json"


def read_config() -> dict[str, str]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}; run `picopt login` again") from exc
    return {k: str(v) for k, v in data.items() if k in {"url", "api_key"}}


def write_config(url: str, api_key: str) -> Path:
    """Write the file readable by its owner only, even if it existed with looser permissions."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        json.dump({"url": url, "api_key": api_key}, out, indent=2)
        out.write("\n")
    return path


@dataclass(frozen=True)
class Remote:
    url: str
    api_key: str


def remote(url: str | None = None) -> Remote:
    stored = read_config()
    found_url = url or os.environ.get("PICOPT_URL") or stored.get("url") or DEFAULT_URL
    key = os.environ.get("PICOPT_API_KEY") or stored.get("api_key", "")
    if not key:
        raise CliError("not signed in: run `picopt login` or set PICOPT_API_KEY")
    return Remote(found_url.rstrip("/"), key)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def client(target: Remote, timeout: float = 60.0) -> Client:
    """An API-key client that waits out rate limits (Retry-After) and says so."""
    return Client(
        target.url,
        api_key=target.api_key,
        timeout=timeout,
        rate_limit_retries=RATE_LIMIT_RETRIES,
        on_rate_limit=lambda s: note(f"rate limited by the service; retrying in {s:.0f} s"),
    )


def explain(err: ApiError, url: str) -> str:
    """One actionable line for an API failure."""
    if err.status == 0:
        return f"cannot reach {url} ({err.detail}); check PICOPT_URL and your network"
    if err.status == 401:
        return "the API key was not accepted; run `picopt login` or check PICOPT_API_KEY"
    if err.status == 402:
        return f"out of credits ({err.detail}); buy more at {url}/app/billing"
    if err.status == 413:
        return f"too large: {err.detail}"
    if err.status == 415:
        return f"not a supported image: {err.detail}"
    if err.status == 429:
        return f"still rate limited after {RATE_LIMIT_RETRIES} retries: {err.detail}"
    return f"{err.status} {err.problem.get('title', '')}: {err.detail}".strip()


def handles_errors(func: Callable[[Any], int]) -> Callable[[Any], int]:
    """Turn CliError and ApiError into a one-line message on stderr and exit code 1."""

    @functools.wraps(func)
    def run(args: Any) -> int:
        try:
            return func(args)
        except CliError as exc:
            note(f"picopt: {exc}")
            return 1
        except ApiError as exc:
            url = getattr(args, "url", None) or os.environ.get("PICOPT_URL") or ""
            note(f"picopt: {explain(exc, url or read_config().get('url', DEFAULT_URL))}")
            return 1

    return run
