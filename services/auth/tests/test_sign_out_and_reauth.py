"""API keys outlive a password: a reset or "sign out everywhere" offers to revoke them, and a
grave step taken with a key alone asks for the password again (issue 13, Low list)."""

from __future__ import annotations

import pytest

from picopt.kernel.errors import FailedPrecondition, Unauthenticated
from services.auth.tests.support import PASSWORD, Env
from services.auth.throttle import LoginThrottled


def test_sign_out_everywhere_revokes_keys_only_when_asked(env: Env) -> None:
    user = env.signed_up()
    _, kept = env.service.api_keys.create_api_key(user.id, "ci")
    env.service.sessions.log_in(user.email, PASSWORD)
    assert env.service.sessions.log_out_everywhere(user.id) == (1, 0)
    assert env.service.api_keys.authenticate_api_key(kept)[0] == user.id
    env.service.sessions.log_in(user.email, PASSWORD)
    assert env.service.sessions.log_out_everywhere(user.id, revoke_api_keys=True) == (1, 1)
    with pytest.raises(Unauthenticated):
        env.service.api_keys.authenticate_api_key(kept)


def test_a_password_reset_revokes_keys_when_asked(env: Env) -> None:
    user = env.signed_up()
    _, key = env.service.api_keys.create_api_key(user.id, "laptop")
    env.service.accounts.request_password_reset(user.email)
    assert env.service.accounts.reset_password(env.token(user.email), "another passphrase 1") == 0
    assert env.service.api_keys.authenticate_api_key(key)[0] == user.id
    env.service.accounts.request_password_reset(user.email)
    token = env.token(user.email)
    assert (
        env.service.accounts.reset_password(token, "another passphrase 2", revoke_api_keys=True)
        == 1
    )
    with pytest.raises(Unauthenticated):
        env.service.api_keys.authenticate_api_key(key)


def test_verifying_the_password_again_is_throttled_like_a_sign_in(env: Env) -> None:
    user = env.signed_up()
    env.service.accounts.verify_password(user.id, PASSWORD, "10.0.0.1")
    for _ in range(4):  # three free failures, the fourth locks
        with pytest.raises(Unauthenticated):
            env.service.accounts.verify_password(user.id, "a wrong guess", "10.0.0.1")
    with pytest.raises(LoginThrottled):
        env.service.accounts.verify_password(user.id, PASSWORD, "10.0.0.2")


def test_an_account_without_a_password_must_sign_in_again(env: Env) -> None:
    signed, _ = env.service.identities.sign_in_external(
        "corp", "sub-9", "oauth@example.test", True, "O"
    )
    with pytest.raises(FailedPrecondition) as refused:
        env.service.accounts.verify_password(signed.user.id, "anything at all", "10.0.0.1")
    assert refused.value.code == "reauthentication_required"
