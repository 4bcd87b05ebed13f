"""API keys: stored as keyed hashes, authenticated, revoked (services/auth/api_keys.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from picopt.kernel.errors import NotFound, Unauthenticated
from services.auth.tests.support import Env


def test_api_keys_are_stored_as_keyed_hashes_and_revocable(env: Env) -> None:
    user = env.signed_up()
    key_row, key = env.service.api_keys.create_api_key(user.id, "ci")
    assert key.startswith("po_live_")
    assert env.service.api_keys.authenticate_api_key(key) == (user.id, key_row.id)
    with env.db.session() as s:
        dump = " ".join(str(v) for row in s.execute(text("SELECT * FROM api_keys")) for v in row)
    assert key not in dump and key.split("_")[-1] not in dump
    with pytest.raises(Unauthenticated):
        env.service.api_keys.authenticate_api_key(key[:-1] + ("A" if key[-1] != "A" else "B"))
    with pytest.raises(NotFound):
        env.service.api_keys.revoke_api_key("someone-else", key_row.id)
    env.service.api_keys.revoke_api_key(user.id, key_row.id)
    with pytest.raises(Unauthenticated):
        env.service.api_keys.authenticate_api_key(key)
