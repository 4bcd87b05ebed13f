"""Provider sign-ins racing each other (issue 13 item 6): two first sign-ins for one
address at once end in one account, and nothing personal reaches the log."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from sqlalchemy import event, func, select

from picopt.kernel import logs
from services.auth.models import OAuthIdentity, User
from services.auth.service import SignedIn
from services.auth.tests.support import Env

EMAIL, NAME = "grace.hopper@example.test", "Grace Brewster Hopper"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("auth", "debug", stream=stream)
    yield stream
    structlog.reset_defaults()


def racers_meet(env: Env, statement_start: str, parties: int = 2) -> None:
    """The first `parties` statements starting so wait for each other: every racer has
    looked and found nothing before any of them goes on to write."""
    barrier = threading.Barrier(parties)
    waiting = iter(range(parties))
    lock = threading.Lock()

    @event.listens_for(env.db.engine, "before_cursor_execute")
    def meet(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith(statement_start):
            with lock:
                turn = next(waiting, None)
            if turn is not None:
                barrier.wait(timeout=10)


def race(env: Env, people: list[tuple[str, str, str]]) -> list[SignedIn | BaseException]:
    results: list[SignedIn | BaseException] = []

    def sign_in(provider: str, subject: str, email: str) -> None:
        try:
            results.append(env.service.sign_in_external(provider, subject, email, True, NAME)[0])
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=sign_in, args=person) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_first_sign_ins_for_one_address_make_one_account(
    pg_env: Env, captured: io.StringIO
) -> None:
    racers_meet(pg_env, "INSERT INTO users ")
    results = race(pg_env, [("corp", "sub-a", EMAIL), ("github", "4242", EMAIL)])
    assert all(isinstance(r, SignedIn) for r in results), results
    assert len({r.user.id for r in results if isinstance(r, SignedIn)}) == 1
    with pg_env.db.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 1
        assert s.scalar(select(func.count()).select_from(OAuthIdentity)) == 2
    logged = captured.getvalue()
    assert "external_sign_in_raced" in logged
    for personal in (EMAIL, NAME, "grace.hopper", "argon2"):
        assert personal not in logged


def test_one_identity_signing_in_twice_at_once_links_once(pg_env: Env) -> None:
    first, _ = pg_env.service.sign_in_external("corp", "sub-0", EMAIL, True, NAME)
    # Both have found no identity; the account's row lock then lets one link at a time.
    racers_meet(pg_env, "SELECT users.id")
    results = race(pg_env, [("github", "77", EMAIL), ("github", "77", EMAIL)])
    assert all(isinstance(r, SignedIn) and r.user.id == first.user.id for r in results), results
    with pg_env.db.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(OAuthIdentity)) == 2
