"""Erasure orchestration: dispatch, confirmations, completion, retries, overdue flags."""

from __future__ import annotations

from datetime import timedelta

import pytest

from picopt.events.v1 import events_pb2
from picopt.kernel.db import Database
from picopt.kernel.errors import FailedPrecondition, InvalidArgument, NotFound
from picopt.kernel.messaging import Outbox
from services.retention.models import PrivacyRequest
from services.retention.requests import Requests
from services.retention.tests.conftest import deliver, outbox_events, policy


def requests(db: Database, **env: str) -> Requests:
    return Requests(db, Outbox("retention"), policy(**env))


def confirm(db: Database, r: Requests, request_id: str, service: str) -> None:
    erased = events_pb2.AccountErased(
        user_id="u1", request_id=request_id, service=service, counts={"rows": 2}
    )
    deliver(db, r.on_erased, erased)


def age(db: Database, request_id: str, by: timedelta) -> None:
    with db.session() as s:
        row = s.get(PrivacyRequest, request_id)
        assert row is not None
        row.created_at -= by
        row.dispatched_at = row.created_at


def test_erasure_is_sent_with_the_request_and_completes_only_when_every_service_confirmed(
    db: Database,
) -> None:
    r = requests(db)
    view = r.open("u1", "erasure", actor="user")
    assert view.request.status == "open"
    assert view.request.deadline - view.request.created_at == timedelta(days=30)
    (sent,) = outbox_events(db, "account.erase")
    erase = events_pb2.AccountErase.FromString(sent.payload)
    assert (erase.user_id, erase.request_id) == ("u1", view.request.id)

    for service in ("auth", "billing", "retention"):
        confirm(db, r, view.request.id, service)
    current, trail = r.get(view.request.id)
    assert current.request.status == "open"
    assert current.pending_services == ("processor",)

    confirm(db, r, view.request.id, "processor")
    confirm(db, r, view.request.id, "processor")  # a duplicate changes nothing
    current, trail = r.get(view.request.id)
    assert current.request.status == "completed" and current.request.completed_at
    actions = [a.action for a in trail]
    assert actions[:2] == ["requested", "erase_sent"]
    assert actions.count("erased") == 4 and actions[-1] == "completed"
    assert {a.service for a in trail if a.action == "erased"} == {
        "auth",
        "billing",
        "processor",
        "retention",
    }


def test_a_second_erasure_request_returns_the_open_one(db: Database) -> None:
    r = requests(db)
    first = r.open("u1", "erasure", actor="user")
    second = r.open("u1", "erasure", actor="staff")
    assert first.request.id == second.request.id
    assert len(outbox_events(db, "account.erase")) == 1


def test_stale_erasures_are_sent_again_and_flagged_overdue_long_before_the_deadline(
    db: Database,
) -> None:
    r = requests(db, RETENTION_ERASURE_RETRY="600", RETENTION_OVERDUE_AFTER="3600")
    view = r.open("u1", "erasure", actor="user")
    assert r.tick() == (0, 0)
    age(db, view.request.id, timedelta(minutes=11))
    assert r.tick() == (1, 0)
    assert len(outbox_events(db, "account.erase")) == 2
    assert r.overdue() == []
    age(db, view.request.id, timedelta(hours=1))
    _resent, flagged = r.tick()
    assert flagged == 1
    (overdue,) = r.overdue()
    assert overdue.request.id == view.request.id
    assert overdue.request.deadline - overdue.request.overdue_at > timedelta(days=29)  # type: ignore[operator]
    assert r.tick()[1] == 0  # flagged once


def test_completed_requests_are_neither_resent_nor_flagged(db: Database) -> None:
    r = requests(db)
    view = r.open("u1", "erasure", actor="user")
    for service in ("auth", "billing", "processor", "retention"):
        confirm(db, r, view.request.id, service)
    age(db, view.request.id, timedelta(days=8))
    assert r.tick() == (0, 0)


def test_corrections_are_closed_by_staff_but_erasures_only_by_confirmations(
    db: Database,
) -> None:
    r = requests(db)
    correction = r.open("u1", "correction", actor="staff")
    done = r.complete(correction.request.id, actor="staff")
    assert done.request.status == "completed"
    erasure = r.open("u1", "erasure", actor="staff")
    with pytest.raises(FailedPrecondition):
        r.complete(erasure.request.id, actor="staff")
    with pytest.raises(NotFound):
        r.complete("no-such-request", actor="staff")


@pytest.mark.parametrize(("user_id", "kind"), [("", "erasure"), ("u1", "delete-everything")])
def test_bad_requests_are_refused_and_record_nothing(db: Database, user_id: str, kind: str) -> None:
    r = requests(db)
    with pytest.raises(InvalidArgument):
        r.open(user_id, kind, actor="user")
    assert r.search() == []
    assert outbox_events(db, "account.erase") == []


def test_confirmation_for_an_unknown_request_is_ignored(db: Database) -> None:
    r = requests(db)
    confirm(db, r, "unknown", "auth")
    assert r.search() == []
