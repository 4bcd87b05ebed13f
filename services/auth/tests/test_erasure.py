"""Disabling and erasing an account (services/auth/erasure.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from picopt.kernel.db import utcnow
from picopt.kernel.errors import Unauthenticated
from services.auth.call_log import ApiCall
from services.auth.tests.support import PASSWORD, Env


def test_disable_revokes_everything_and_erase_deletes_everything(env: Env) -> None:
    user = env.signed_up()
    session = env.service.sessions.log_in("ada@example.test", PASSWORD)
    _, key = env.service.api_keys.create_api_key(user.id, "ci")
    env.service.call_log.record_api_calls([ApiCall(user.id, "GET", "/v1/jobs", 200, 3, utcnow())])
    with env.db.session() as s:
        counts = env.service.disable_user(s, user.id)
    assert counts["sessions"] == 1 and counts["api_keys"] == 1
    with pytest.raises(Unauthenticated):
        env.service.sessions.authenticate_session(session.token)
    with pytest.raises(Unauthenticated):
        env.service.api_keys.authenticate_api_key(key)
    with pytest.raises(Unauthenticated):
        env.service.sessions.log_in("ada@example.test", PASSWORD)
    with env.db.session() as s:
        erased = env.service.erase_user(s, user.id)
    assert erased["users"] == 1 and erased["api_calls"] == 1 and erased["api_keys"] == 1
    with env.db.session() as s:
        for table in ("users", "api_keys", "sessions", "email_tokens", "api_calls"):
            assert s.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
