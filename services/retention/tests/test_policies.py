"""Policy versions: a material change takes effect only after its notice period, every version
stays readable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from picopt.kernel.db import Database
from picopt.kernel.errors import InvalidArgument, NotFound
from picopt.kernel.mailer import Mailer
from picopt.kernel.settings import SettingsError
from picopt.privacy.v1 import privacy_pb2
from services.retention.models import PolicyVersion
from services.retention.policies import Policies, PolicyDocument
from services.retention.tests.conftest import policy

TODAY = date(2030, 3, 1)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


@pytest.fixture
def policies(db: Database, tmp_path: Path) -> Policies:
    p = Policies(db, Mailer("x <x@localhost>", mail_dir=tmp_path / "mail"), recipients=None)
    p.publish(PolicyDocument("1.0", "2025-06-01", False, "Old terms.\n"), today=TODAY)
    return p


def fan_out_done(db: Database, version: str, when: datetime) -> None:
    with db.session() as s:
        row = s.get(PolicyVersion, version)
        assert row is not None
        row.notification_done_at = when


def test_a_material_change_dated_within_the_notice_period_is_refused(policies: Policies) -> None:
    too_soon = (TODAY + timedelta(days=29)).isoformat()
    with pytest.raises(InvalidArgument, match=r"at least 30 days .* 2030-03-31 or later"):
        policies.publish(PolicyDocument("2.0", too_soon, True, "New.\n"), today=TODAY)
    assert [p.version for p in policies.all()] == ["1.0"]
    # A clarification (not material) needs no notice.
    policies.publish(PolicyDocument("1.1", TODAY.isoformat(), False, "Clearer.\n"), today=TODAY)


def test_the_old_version_is_served_until_the_change_takes_effect(
    policies: Policies, db: Database
) -> None:
    effective = TODAY + timedelta(days=30)
    policies.publish(PolicyDocument("2.0", effective.isoformat(), True, "New.\n"), today=TODAY)
    assert policies.current(at(TODAY)).version == "1.0"
    assert [p.version for p in policies.upcoming(at(TODAY))] == ["2.0"]
    # The date has come but the notices are still going out: the old version stays.
    assert policies.current(at(effective + timedelta(days=5))).version == "1.0"
    fan_out_done(db, "2.0", at(TODAY + timedelta(days=1)))
    # Then the last notice must be POLICY_NOTICE_DAYS old too: a day later than the date.
    assert policies.current(at(effective)).version == "1.0"
    assert policies.current(at(effective + timedelta(days=1))).version == "2.0"
    assert policies.upcoming(at(effective + timedelta(days=1))) == []


def test_every_version_stays_readable(policies: Policies, db: Database) -> None:
    later = (TODAY + timedelta(days=40)).isoformat()
    policies.publish(PolicyDocument("2.0", later, True, "New.\n"), today=TODAY)
    fan_out_done(db, "2.0", at(TODAY))
    assert policies.get("1.0").text == "Old terms.\n"
    assert policies.get("2.0").text == "New.\n"
    with pytest.raises(NotFound):
        policies.get("9.9")


def test_the_notice_period_cannot_be_shorter_than_the_policy_promises() -> None:
    assert policy().policy_notice == timedelta(days=30)
    assert policy(POLICY_NOTICE_DAYS="45").policy_notice == timedelta(days=45)
    for bad in ("29", "0", "400"):
        with pytest.raises(SettingsError, match="POLICY_NOTICE_DAYS"):
            policy(POLICY_NOTICE_DAYS=bad)


def test_a_finished_fan_out_keeps_no_user_id_as_its_cursor(db: Database, tmp_path: Path) -> None:
    class Auth:
        pages = [[privacy_pb2.Recipient(user_id="u1", email="u1@example.test", name="U")], []]

        def ListRecipients(self, request: Any) -> Any:
            return privacy_pb2.ListRecipientsResponse(recipients=self.pages.pop(0))

    p = Policies(db, Mailer("x <x@localhost>", mail_dir=tmp_path / "mail"), Auth())
    p.publish(PolicyDocument("2.0", "2031-01-01", True, "New.\n"), today=TODAY)
    assert p.notify_batch() == 1
    assert p.get("2.0").notify_cursor == "u1"
    p.notify_batch()
    done = p.get("2.0")
    assert done.notification_done_at is not None and done.notify_cursor == ""
