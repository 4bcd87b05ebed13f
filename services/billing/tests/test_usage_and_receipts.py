"""Usage pages (per job, per day) and receipt emails written by the shared mailer."""

from __future__ import annotations

import uuid
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import update

from picopt.kernel.db import utcnow
from picopt.kernel.errors import InvalidArgument
from picopt.kernel.mailer import Mailer
from services.billing.ledger import Ledger
from services.billing.models import Purchase, Reservation
from services.billing.receipts import Receipts
from services.billing.tests.conftest import give, new_user
from services.billing.tests.test_webhooks import pending_purchase
from services.billing.usage import Usage


def spend(ledger: Ledger, user: str, outputs: int, days_ago: int = 0) -> str:
    job = str(uuid.uuid4())
    ledger.reserve(job, user, with_metadata=False, outputs=outputs)
    with ledger.db.session() as s:
        ledger.capture(s, job)
        when = utcnow() - timedelta(days=days_ago)
        s.execute(update(Reservation).where(Reservation.job_id == job).values(updated_at=when))
    return job


def test_usage_per_job_pages_through_every_capture_once(ledger: Ledger) -> None:
    user = new_user()
    give(ledger, user, 100)
    jobs = [spend(ledger, user, outputs=i + 1) for i in range(5)]
    released = str(uuid.uuid4())
    ledger.reserve(released, user, False, 1)
    with ledger.db.session() as s:
        ledger.release(s, released, "job_failed")
    usage, seen, cursor = Usage(ledger.db), [], ""
    while True:
        items, cursor = usage.page(user, "job", 2, cursor)
        seen += [(i.job_id, i.credits) for i in items]
        if not cursor:
            break
    assert sorted(seen) == sorted((j, n + 1) for n, j in enumerate(jobs))
    assert released not in {j for j, _ in seen}


def test_usage_per_day_sums_captures_by_utc_day(ledger: Ledger) -> None:
    user = new_user()
    give(ledger, user, 100)
    spend(ledger, user, 2, days_ago=0)
    spend(ledger, user, 3, days_ago=0)
    spend(ledger, user, 4, days_ago=2)
    spend(ledger, user, 1, days_ago=5)
    usage = Usage(ledger.db)
    first, cursor = usage.page(user, "day", 2)
    assert [(i.credits, i.jobs) for i in first] == [(5, 2), (4, 1)]
    assert first[0].day == utcnow().date().isoformat()
    rest, end = usage.page(user, "day", 2, cursor)
    assert [(i.credits, i.jobs) for i in rest] == [(1, 1)] and end == ""


def test_usage_rejects_bad_grouping_and_cursors(ledger: Ledger) -> None:
    usage = Usage(ledger.db)
    with pytest.raises(InvalidArgument):
        usage.page(new_user(), "week")
    for group in ("job", "day"):
        with pytest.raises(InvalidArgument, match="invalid cursor"):
            usage.page(new_user(), group, 10, "%%%not-a-cursor")


def test_receipt_is_mailed_once_with_the_purchase_details(ledger: Ledger, tmp_path: Path) -> None:
    user = new_user()
    purchase = pending_purchase(ledger.db, user)
    with ledger.db.session() as s:
        s.execute(
            update(Purchase)
            .where(Purchase.id == purchase.id)
            .values(status="paid", paid_at=utcnow(), payment_intent_id="pi_receipt")
        )
    receipts = Receipts(
        ledger.db,
        Mailer("Shop <shop@example.test>", mail_dir=tmp_path),
        {user: "buyer@example.test"}.get,
    )
    assert receipts.send(purchase.id)
    assert not receipts.send(purchase.id)
    assert receipts.send_due() == 0
    (mail,) = tmp_path.glob("*.eml")
    message = message_from_bytes(mail.read_bytes())
    assert message["To"] == "buyer@example.test"
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert purchase.id in body and "5.00 EUR" in body and "pi_receipt" in body


def test_receipt_that_could_not_be_sent_is_retried(ledger: Ledger, tmp_path: Path) -> None:
    user = new_user()
    purchase = pending_purchase(ledger.db, user)
    with ledger.db.session() as s:
        s.execute(update(Purchase).where(Purchase.id == purchase.id).values(paid_at=utcnow()))
    attempts: list[str] = []

    def flaky_lookup(user_id: str) -> str:
        attempts.append(user_id)
        if len(attempts) == 1:
            raise ConnectionError("auth is down")
        return "buyer@example.test"

    receipts = Receipts(ledger.db, Mailer("s@example.test", mail_dir=tmp_path), flaky_lookup)
    assert not receipts.send(purchase.id)
    assert list(tmp_path.glob("*.eml")) == []
    assert receipts.send_due() == 1
    assert len(list(tmp_path.glob("*.eml"))) == 1
