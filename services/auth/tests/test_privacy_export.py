"""Auth's part of an export: every API call (no cap), streamed with flat memory, and the
account's other tables, each file accounting for its rows."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from picopt.kernel.exports import export_chunks
from services.auth.models import ApiCallRecord
from services.auth.privacy import AuthPrivacy
from services.auth.tests.support import Env

CALLS = 10_000


def test_every_api_call_is_exported_as_a_stream_with_flat_memory(env: Env, tmp_path: Path) -> None:
    user = env.signed_up()
    start = datetime.now(UTC) - timedelta(days=89)
    with env.db.session() as s:
        s.execute(
            sa.insert(ApiCallRecord),
            [
                {
                    "user_id": user.id,
                    "key_id": None,
                    "method": "GET",
                    "route": "/v1/jobs/<job_id>",
                    "status": 200,
                    "duration_ms": i % 50,
                    "at": start + timedelta(seconds=i),
                }
                for i in range(CALLS)
            ],
        )
    privacy = AuthPrivacy(env.service, env.service.outbox)
    ends = {}
    received = tmp_path / "api_calls.json"
    tracemalloc.start()
    try:
        with received.open("wb") as out:  # as the archive does: straight to a file
            for chunk in export_chunks(privacy.export(user.id)):
                if chunk.name == "api_calls.json":
                    out.write(chunk.data)
                if chunk.end:
                    ends[chunk.name] = (chunk.table, chunk.rows)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    calls = json.loads(received.read_bytes())
    assert len(calls) == CALLS and calls[0]["at"] < calls[-1]["at"]
    assert ends["api_calls.json"] == ("api_calls", CALLS)
    assert ends["profile.json"] == ("users", 1)
    assert ends["email_tokens.json"] == ("email_tokens", 1)  # the confirmation
    # Between chunks the export holds a page of rows and a chunk, never the whole log
    # (the log as Python rows would take about 10 MB).
    assert peak < 3 * 1024 * 1024, peak
