"""`make demo`: real images through the running services, and a table of what came out.

Starts the one-machine stack, signs up a demo user, pushes photos that ship
inside scikit-image plus one generated graphic through the public API,
downloads the results into var/demo/, prints the table and stops the stack.
"""

from __future__ import annotations

import re
import secrets
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from picopt import formats
from picopt.client import ApiError, Client
from picopt.devstack import Stack, StackError
from picopt.samples import DEMO_PHOTOS, graphic_png, skimage_photo

PASSWORD = secrets.token_urlsafe(16)  # a fresh throwaway account per run


def mail_text(message: Message) -> str:
    """The plain-text body of a mail, alone or as the text/plain part of an alternative."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            return payload.decode() if isinstance(payload, bytes) else ""
    return ""


def mailed_token(mail_dir: Path, to: str, timeout: float = 30.0, since_ns: int = 0) -> str:
    """The token in the newest message to `to` written by the file mail transport.

    Mail is sent in the background: pass `since_ns` (a `time.time_ns()` taken before the
    action that mails) to wait for that message rather than find an older one.
    """
    deadline = time.monotonic() + timeout
    while True:
        newest: tuple[int, str] | None = None
        for path in mail_dir.glob("*.eml"):
            message = message_from_bytes(path.read_bytes())
            if message["To"] == to:
                found = re.search(r"^Token: (\S+)$", mail_text(message), re.M)
                stamp = path.stat().st_mtime_ns
                if found and stamp >= since_ns and (newest is None or stamp > newest[0]):
                    newest = (stamp, found.group(1))
        if newest is not None:
            return newest[1]
        if time.monotonic() > deadline:
            raise RuntimeError(f"no mail with a token arrived in {mail_dir}")
        time.sleep(0.1)


def _wait_for_credits(client: Client, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while (available := client.balance()["available"]) <= 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the trial credits did not arrive")
        time.sleep(0.2)
    return available


def _row(name: str, job: dict[str, Any]) -> list[str]:
    if job["status"] != "done":
        error = job.get("error") or {}
        return [
            name,
            job["input"]["format"],
            "failed",
            str(job["input"]["bytes"]),
            "-",
            "-",
            error.get("code", ""),
        ]
    out = job["output"]
    alt = (job.get("metadata") or {}).get("alt_text", "")
    return [
        name,
        job["input"]["format"],
        out["format"],
        f"{job['input']['bytes']:,}",
        f"{out['bytes']:,}",
        f"{out['saving_percent']:.1f}%",
        alt,
    ]


def print_table(rows: list[list[str]]) -> None:
    header = ["file", "in", "out", "bytes in", "bytes out", "saving", "alt text"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def run_demo(base_url: str, out_dir: Path, mail_dir: Path) -> list[list[str]]:
    client = Client(base_url)
    email = f"demo-{uuid.uuid4().hex[:8]}@example.test"
    client.signup("Demo User", email, PASSWORD)
    client.confirm(mailed_token(mail_dir, email))
    client.login(email, PASSWORD)
    api = Client(base_url, api_key=client.create_api_key("demo"))
    print(f"demo user signed up; {_wait_for_credits(api)} trial credits")
    inputs: list[tuple[str, bytes]] = [(n, skimage_photo(n).read_bytes()) for n in DEMO_PHOTOS]
    inputs.append(("banner.png", graphic_png()))
    jobs = [(name, api.submit(data, filename=name)) for name, data in inputs]
    print(f"submitted {len(jobs)} images; waiting for results")

    def finish(item: tuple[str, dict[str, Any]]) -> list[str]:
        name, job = item
        done = api.wait(job["id"], timeout=300)
        if done["status"] == "done":
            stem = name.rsplit(".", 1)[0]
            ext = formats.extension(done["output"]["format"])
            (out_dir / f"{stem}.{ext}").write_bytes(api.download(job["id"]))
        return _row(name, done)

    out_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(finish, jobs))


def main() -> int:
    stack = Stack.from_environment(echo=False, log_dir=Path("var/logs"))
    Path("var/logs").mkdir(parents=True, exist_ok=True)
    print("starting the stack (logs in var/logs/)")
    try:
        stack.start()
        stack.wait_healthy(timeout=120)
        mail_dir = Path(stack.env.get("MAIL_DIR") or Path(stack.env.get("VAR_DIR", "var")) / "mail")
        rows = run_demo(stack.gateway_url(), Path("var/demo"), mail_dir)
    except (StackError, ApiError, TimeoutError, RuntimeError) as err:
        print(f"demo failed: {err}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    print()
    print_table(rows)
    print("\nresults written to var/demo/")
    return 0 if all(r[2] != "failed" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
