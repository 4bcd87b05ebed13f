"""Sessions: sign-in, rehashing, throttling, idle and absolute expiry, sign-out
(services/auth/sessions.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from picopt.kernel.db import utcnow
from picopt.kernel.errors import Unauthenticated
from services.auth.models import User
from services.auth.tests.support import PASSWORD, Env
from services.auth.throttle import LoginThrottled


def test_login_rehashes_weaker_parameters(env: Env) -> None:
    user = env.signed_up()
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with env.db.session() as s:
        s.get(User, user.id).password_hash = weak  # type: ignore[union-attr]
    env.service.sessions.log_in("ada@example.test", PASSWORD)
    with env.db.session() as s:
        stored = s.get(User, user.id).password_hash  # type: ignore[union-attr]
    assert stored is not None
    assert stored != weak and "m=19456,t=2,p=1" in stored


def test_failed_logins_are_throttled_per_account_even_for_the_right_password(env: Env) -> None:
    env.signed_up()
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            env.service.sessions.log_in("ada@example.test", "wrong password!", "10.0.0.1")
    with pytest.raises(Unauthenticated):  # the 4th failure sets the lock
        env.service.sessions.log_in("ada@example.test", "wrong password!", "10.0.0.2")
    with pytest.raises(LoginThrottled) as throttled:
        env.service.sessions.log_in("ada@example.test", PASSWORD, "10.0.0.3")
    assert 0 < throttled.value.retry_after_s <= 60
    # An unknown address behaves exactly the same (no enumeration).
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            env.service.sessions.log_in("nobody@example.test", "wrong password!", "10.0.0.4")
    with pytest.raises(LoginThrottled):
        env.service.sessions.log_in("nobody@example.test", "wrong password!", "10.0.0.5")


def test_failed_logins_are_throttled_per_address_with_growing_delay(env: Env) -> None:
    for i in range(7):
        with pytest.raises(Unauthenticated):
            env.service.sessions.log_in(f"u{i}@example.test", "wrong password!", "10.9.9.9")
    with pytest.raises(LoginThrottled) as first:
        env.service.sessions.log_in("other@example.test", "wrong password!", "10.9.9.9")
    with env.db.session() as s:
        s.execute(text("UPDATE login_failures SET locked_until = NULL"))
    with pytest.raises(Unauthenticated):
        env.service.sessions.log_in("u9@example.test", "wrong password!", "10.9.9.9")
    with pytest.raises(LoginThrottled) as second:
        env.service.sessions.log_in("other@example.test", "wrong password!", "10.9.9.9")
    assert second.value.retry_after_s > first.value.retry_after_s


def test_sessions_expire_when_idle_and_rotate_on_login(env: Env) -> None:
    env.signed_up()
    first = env.service.sessions.log_in("ada@example.test", PASSWORD)
    second = env.service.sessions.log_in("ada@example.test", PASSWORD, previous_token=first.token)
    with pytest.raises(Unauthenticated):
        env.service.sessions.authenticate_session(first.token)
    assert env.service.sessions.authenticate_session(second.token) == second.user.id
    with env.db.session() as s:
        s.execute(
            text("UPDATE sessions SET last_seen_at = :t"), {"t": utcnow() - timedelta(hours=1)}
        )
    with pytest.raises(Unauthenticated):
        env.service.sessions.authenticate_session(second.token)


def test_absolute_expiry_and_logout_everywhere(env: Env) -> None:
    env.signed_up()
    a = env.service.sessions.log_in("ada@example.test", PASSWORD)
    b = env.service.sessions.log_in("ada@example.test", PASSWORD)
    with env.db.session() as s:
        s.execute(text("UPDATE sessions SET expires_at = :t"), {"t": utcnow() - timedelta(1)})
    with pytest.raises(Unauthenticated):
        env.service.sessions.authenticate_session(a.token)
    c = env.service.sessions.log_in("ada@example.test", PASSWORD)
    assert env.service.sessions.log_out_everywhere(c.user.id) == (
        2,
        0,
    )  # b (expired, unswept) and c
    for token in (b.token, c.token):
        with pytest.raises(Unauthenticated):
            env.service.sessions.authenticate_session(token)
