"""AUTH_SECRET can be rotated (old secrets still verify API keys, which move to the new one;
trial digests under them still count), and one mailbox gets one trial however it is
spelled (`user+tag@`, Gmail's dots): issue 13, Low list."""

from __future__ import annotations

from dataclasses import replace

import pytest

from picopt.events.v1 import events_pb2
from picopt.kernel.errors import Unauthenticated
from services.auth.models import ApiKey
from services.auth.rules import trial_address
from services.auth.service import AuthService
from services.auth.tests.support import SECRET, Env

NEW_SECRET = b"n" * 32


def rotated(env: Env, old: tuple[bytes, ...] = (SECRET,)) -> AuthService:
    config = replace(env.config, secret=NEW_SECRET, old_secrets=old)
    return AuthService(env.db, env.service.outbox, config, env.service.notify)


def stored_hash(env: Env, key_id: str) -> str:
    with env.db.session(readonly=True) as s:
        row = s.get(ApiKey, key_id)
        assert row is not None
        return row.key_hash


def test_keys_made_under_the_old_secret_keep_working_and_move_to_the_new(env: Env) -> None:
    user = env.signed_up()
    row, key = env.service.api_keys.create_api_key(user.id, "ci")
    before = stored_hash(env, row.id)
    service = rotated(env)
    assert service.api_keys.authenticate_api_key(key) == (user.id, row.id)
    assert stored_hash(env, row.id) != before  # hashed again, under the new secret
    assert rotated(env, old=()).api_keys.authenticate_api_key(key) == (user.id, row.id)
    _, unused = env.service.api_keys.create_api_key(user.id, "unused")
    with pytest.raises(Unauthenticated):  # the old secret dropped before this key was used
        rotated(env, old=()).api_keys.authenticate_api_key(unused)


@pytest.mark.parametrize(
    ("spelled", "mailbox"),
    [
        ("Ada+promo@Example.test", "ada@example.test"),
        ("ada+a+b@example.test", "ada@example.test"),
        ("a.d.a+x@googlemail.com", "ada@gmail.com"),
        ("a.d.a@example.test", "a.d.a@example.test"),  # dots matter elsewhere
        ("+tag@example.test", "+tag@example.test"),
    ],
)
def test_the_trial_sees_the_mailbox_behind_an_address(spelled: str, mailbox: str) -> None:
    assert trial_address(spelled) == mailbox


def test_tagged_addresses_confirm_with_one_digest_and_name_old_secrets(env: Env) -> None:
    env.signed_up("ada@example.test")
    service = rotated(env)
    service.accounts.sign_up("Ada", "ada+2@example.test", "a long enough passphrase")
    service.accounts.confirm_email(env.token("ada+2@example.test"))
    first, second = (
        events_pb2.AccountConfirmed.FromString(events_pb2.Envelope.FromString(raw).payload)
        for raw in env.events("account.confirmed")
    )
    assert first.email_digest in second.older_email_digests  # same mailbox, old secret
    assert second.email_digest == service.accounts.email_digest("ada@example.test")
