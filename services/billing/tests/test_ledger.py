"""The ledger against PostgreSQL: exact sums, idempotency, buckets, expiry, concurrency."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from picopt.kernel.db import utcnow
from picopt.kernel.errors import FailedPrecondition, InsufficientCredits, InvalidArgument
from services.billing.ledger import Ledger
from services.billing.models import Account, LedgerEntry, Reservation
from services.billing.tests.conftest import give, new_user


def job() -> str:
    return str(uuid.uuid4())


def test_reserve_capture_release_are_idempotent_by_job(ledger: Ledger) -> None:
    user = new_user()
    give(ledger, user, 10)
    a, b = job(), job()
    assert ledger.reserve(a, user, with_metadata=True, outputs=2) == (4, 6)
    assert ledger.reserve(a, user, with_metadata=True, outputs=2) == (4, 6)
    assert ledger.reserve(b, user, with_metadata=False, outputs=1) == (1, 5)
    assert ledger.balance(user).reserved == 5
    with ledger.db.session() as s:
        assert ledger.capture(s, a) == 4
        assert ledger.capture(s, a) == 4
        assert ledger.release(s, a, "late_failure") == 0  # a captured hold stays spent
        assert ledger.release(s, b, "job_failed") == 1
        assert ledger.release(s, b, "job_failed") == 0
        assert ledger.capture(s, b) == 0  # a released hold stays released
    balance = ledger.balance(user)
    assert (balance.available, balance.reserved) == (6, 0)
    assert sum(e.credits for e in ledger.entries(user)) == 6


def test_insufficient_credits_creates_nothing(ledger: Ledger) -> None:
    user = new_user()
    give(ledger, user, 2)
    with pytest.raises(InsufficientCredits, match="needs 3 credits; 2 available"):
        ledger.reserve(job(), user, with_metadata=True, outputs=1)
    with ledger.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Reservation)) == 0
    assert ledger.balance(user).available == 2


def test_reservation_job_id_cannot_be_taken_by_another_user(ledger: Ledger) -> None:
    owner, other = new_user(), new_user()
    give(ledger, owner, 5)
    give(ledger, other, 5)
    j = job()
    ledger.reserve(j, owner, False, 1)
    with pytest.raises(InvalidArgument):
        ledger.reserve(j, other, False, 1)
    assert ledger.balance(other).available == 5


def test_granted_credits_are_spent_first_and_released_back_to_their_bucket(
    ledger: Ledger,
) -> None:
    user = new_user()
    give(ledger, user, 3)
    with ledger.db.session() as s:
        ledger.grant(s, user, 10, "buy:1", "pack", kind="purchase", bucket="purchased")
    j = job()
    ledger.reserve(j, user, with_metadata=True, outputs=3)  # 5 credits: 3 granted + 2 purchased
    b = ledger.balance(user)
    assert (b.granted, b.purchased, b.available) == (0, 8, 8)
    with ledger.db.session() as s:
        ledger.release(s, j, "cancelled")
    b = ledger.balance(user)
    assert (b.granted, b.purchased) == (3, 10)


def test_a_job_pays_only_for_the_outputs_it_made(ledger: Ledger) -> None:
    """Widths above the source collapse into one output: four reserved, two made, two
    credits back (purchased first, they never expire), once however often it is captured."""
    user = new_user()
    give(ledger, user, 3)
    with ledger.db.session() as s:
        ledger.grant(s, user, 10, "buy:1", "pack", kind="purchase", bucket="purchased")
    j = job()
    assert ledger.reserve(j, user, with_metadata=True, outputs=4) == (6, 7)  # 3 granted + 3
    with ledger.db.session() as s:
        assert ledger.capture(s, j, outputs_made=2) == 4
        assert ledger.capture(s, j, outputs_made=1) == 4
    b = ledger.balance(user)
    assert (b.granted, b.purchased, b.available, b.reserved) == (0, 9, 9, 0)
    assert sum(e.credits for e in ledger.entries(user)) == 9
    with ledger.db.session() as s:
        res = s.get(Reservation, j)
        assert res is not None and (res.credits, res.granted_credits) == (4, 3)
    # A job that made what it reserved, or did not say, pays the whole hold.
    k, m = job(), job()
    ledger.reserve(k, user, with_metadata=False, outputs=2)
    ledger.reserve(m, user, with_metadata=False, outputs=2)
    with ledger.db.session() as s:
        assert ledger.capture(s, k, outputs_made=2) == 2
        assert ledger.capture(s, m) == 2
    assert ledger.balance(user).available == 5


def test_staff_adjustments_need_a_reason_and_never_go_below_zero(ledger: Ledger) -> None:
    user = new_user()
    with pytest.raises(InvalidArgument):
        ledger.adjust(user, 5, " ", "k0")
    assert ledger.adjust(user, 5, "goodwill", "k1").available == 5
    assert ledger.adjust(user, 5, "goodwill", "k1").available == 5  # same key: once
    with pytest.raises(FailedPrecondition):
        ledger.adjust(user, -6, "correction", "k2")
    assert ledger.adjust(user, -4, "correction", "k3").available == 1
    kinds = [(e.kind, e.credits, e.reason) for e in ledger.entries(user)]
    assert kinds == [("adjust", 5, "goodwill"), ("adjust", -4, "correction")]


def test_expired_grants_lose_only_their_unspent_part(ledger: Ledger) -> None:
    user = new_user()
    t0 = utcnow()
    with ledger.db.session() as s:
        ledger.grant(s, user, 10, "trial-a", "trial", expires_at=t0 + timedelta(days=1))
        ledger.grant(s, user, 5, "promo-b", "promo", expires_at=t0 + timedelta(days=3))
        ledger.grant(s, user, 20, "buy", "pack", kind="purchase", bucket="purchased")
    j = job()
    ledger.reserve(j, user, with_metadata=False, outputs=7)  # spends 7 granted credits
    with ledger.db.session() as s:
        ledger.capture(s, j)
    assert ledger.expire_grants(t0) == 0
    assert ledger.expire_grants(t0 + timedelta(days=2)) == 3  # 10 - 7 left of the first grant
    assert ledger.expire_grants(t0 + timedelta(days=2)) == 0  # once
    b = ledger.balance(user)
    assert (b.granted, b.purchased) == (5, 20)
    assert ledger.expire_grants(t0 + timedelta(days=4)) == 5
    b = ledger.balance(user)
    assert (b.granted, b.purchased, b.available) == (0, 20, 20)


def test_stale_reservations_are_released(ledger: Ledger) -> None:
    user = new_user()
    give(ledger, user, 3)
    j = job()
    ledger.reserve(j, user, False, 1)
    assert ledger.release_stale(timedelta(hours=1)) == 0
    assert ledger.release_stale(timedelta(seconds=-1)) == 1
    assert ledger.balance(user).available == 3


def test_concurrent_reservations_never_overspend(ledger: Ledger) -> None:
    """60 parallel 3-credit jobs against 100 credits: exactly 33 succeed, none overspends."""
    user = new_user()
    give(ledger, user, 100)
    jobs = [job() for _ in range(60)]
    start = threading.Barrier(len(jobs))

    def attempt(job_id: str) -> bool:
        start.wait()
        try:
            ledger.reserve(job_id, user, with_metadata=True, outputs=1)
        except InsufficientCredits:
            return False
        return True

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(attempt, jobs))
    assert results.count(True) == 33
    balance = ledger.balance(user)
    assert (balance.available, balance.reserved) == (1, 99)
    with ledger.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Reservation)) == 33
        assert s.scalar(select(func.sum(LedgerEntry.credits))) == 1


def test_concurrent_first_operations_of_a_new_user_all_succeed(ledger: Ledger) -> None:
    """The account row is created once even when 20 first grants race for it."""
    user = new_user()
    start = threading.Barrier(20)

    def first(i: int) -> None:
        start.wait()
        give(ledger, user, 1, key=f"race:{i}")

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(first, range(20)))
    assert ledger.balance(user).available == 20
    with ledger.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Account)) == 1
