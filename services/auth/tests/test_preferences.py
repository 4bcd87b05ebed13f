"""An account's AI metadata preferences: set, canonical, cleared, refused when malformed,
exported, and erased with the user."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from picopt.auth.v1 import auth_pb2
from picopt.kernel.errors import InvalidArgument
from services.auth.grpc_api import AuthServicer
from services.auth.oauth import OAuthSignIn
from services.auth.privacy import AuthPrivacy
from services.auth.tests.support import Env


def test_a_new_account_has_no_preference(env: Env) -> None:
    user = env.signed_up()
    assert (user.vision_provider, user.language) == ("", "")


def test_preferences_are_stored_canonical_and_cleared_by_an_empty_string(env: Env) -> None:
    user = env.signed_up()
    updated = env.service.accounts.update_account(
        user.id, vision_provider=" Claude ", language="pt-BR"
    )
    assert (updated.vision_provider, updated.language) == ("anthropic", "pt-BR")
    # Only the fields sent change.
    renamed = env.service.accounts.update_account(user.id, name="Ada L.")
    assert (renamed.name, renamed.vision_provider, renamed.language) == (
        "Ada L.",
        "anthropic",
        "pt-BR",
    )
    stored = env.service.accounts.get_user(user.id)
    assert (stored.vision_provider, stored.language) == ("anthropic", "pt-BR")
    cleared = env.service.accounts.update_account(user.id, vision_provider="", language="")
    assert (cleared.vision_provider, cleared.language) == ("", "")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"vision_provider": "skynet"}, "invalid_vision_provider"),
        ({"language": "not a language"}, "invalid_language"),
        ({"language": "e"}, "invalid_language"),
        ({"language": "en-" + "x" * 40}, "invalid_language"),
    ],
)
def test_malformed_preferences_are_refused_and_change_nothing(
    env: Env, fields: dict[str, str], code: str
) -> None:
    user = env.signed_up()
    env.service.accounts.update_account(user.id, vision_provider="openai", language="de")
    with pytest.raises(InvalidArgument) as refused:
        env.service.accounts.update_account(user.id, name="Changed", **fields)
    assert refused.value.code == code
    stored = env.service.accounts.get_user(user.id)
    assert (stored.name, stored.vision_provider, stored.language) == ("Ada", "openai", "de")


def test_the_grpc_api_sets_only_the_fields_present(env: Env) -> None:
    user = env.signed_up()
    servicer = AuthServicer(env.service, OAuthSignIn(env.service, {}))
    set_both = auth_pb2.UpdateAccountRequest(
        user_id=user.id, vision_provider="ollama", language="fr"
    )
    reply = servicer.UpdateAccount(set_both, None)
    assert (reply.user.vision_provider, reply.user.language) == ("openai", "fr")
    reply = servicer.UpdateAccount(
        auth_pb2.UpdateAccountRequest(user_id=user.id, language=""), None
    )
    assert (reply.user.vision_provider, reply.user.language) == ("openai", "")
    got = servicer.GetUser(auth_pb2.GetUserRequest(user_id=user.id), None).user
    assert (got.vision_provider, got.language) == ("openai", "")


def test_preferences_are_exported_and_erased_with_the_user(env: Env) -> None:
    user = env.signed_up()
    env.service.accounts.update_account(user.id, vision_provider="gemini", language="ja")
    privacy = AuthPrivacy(env.service, env.service.outbox)
    profile = next(p.single for p in privacy.export(user.id) if p.name == "profile.json")
    assert profile is not None
    assert (profile["vision_provider"], profile["language"]) == ("gemini", "ja")
    with env.db.session() as s:
        privacy.erase(s, user.id)
    with env.db.session() as s:
        left = s.execute(text("SELECT count(*) FROM users WHERE language = 'ja'")).scalar()
    assert left == 0
