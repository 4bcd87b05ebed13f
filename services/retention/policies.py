"""Privacy policy versions: text in the repo, published by staff, material changes mailed.

A material change is mailed to every registered user through the shared
mailer, in batches paged by user id from auth (the only holder of addresses).
The fan-out is resumable: the cursor and each mailed user are recorded, and a
user already recorded for a version is never mailed again.

"Emailed before it takes effect": a material version must be dated at least
POLICY_NOTICE_DAYS after its notices start going out (its publication), and
it takes effect only once that many days have passed since the last notice
went out as well (a fan-out slowed by an auth outage moves the date later,
never earlier). Until then the previous version is served. Every published
version stays readable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from sqlalchemy import select

from picopt.kernel.db import Database, as_utc, utcnow
from picopt.kernel.errors import AlreadyExists, InvalidArgument, NotFound
from picopt.kernel.logs import get_logger
from picopt.kernel.mailer import Mailer
from picopt.privacy.v1 import privacy_pb2
from services.retention.models import PolicyNotice, PolicyVersion

log = get_logger(__name__)

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
DEFAULT_POLICY_FILE = Path(__file__).resolve().parents[2] / "docs" / "privacy-policy.md"
DEFAULT_NOTICE = timedelta(days=30)


@dataclass(frozen=True)
class PolicyDocument:
    version: str
    effective_date: str
    material: bool
    text: str


def parse_policy(raw: str) -> PolicyDocument:
    """A Markdown file whose front matter names version, date and material (true/false)."""
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", raw, re.DOTALL)
    if not match:
        raise InvalidArgument(
            "the policy file must start with front matter (---, version, date, material, ---)",
            code="invalid_policy",
        )
    fields = dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition(":") for line in match.group(1).splitlines())
        if k.strip()
    )
    material = fields.get("material", "false").lower()
    if material not in ("true", "false"):
        raise InvalidArgument("material must be true or false", code="invalid_policy")
    return validated(
        fields.get("version", ""), fields.get("date", ""), material == "true", match.group(2)
    )


def validated(version: str, effective_date: str, material: bool, text: str) -> PolicyDocument:
    if not _VERSION.match(version):
        raise InvalidArgument(
            "version must be 1-32 letters, digits, dots, dashes or underscores",
            code="invalid_policy",
        )
    try:
        date.fromisoformat(effective_date)
    except ValueError as exc:
        raise InvalidArgument("date must be YYYY-MM-DD", code="invalid_policy") from exc
    if not text.strip():
        raise InvalidArgument("the policy text is empty", code="invalid_policy")
    return PolicyDocument(version, effective_date, material, text.strip() + "\n")


def takes_effect(p: PolicyVersion, notice: timedelta) -> date:
    """The day a version is in force: its date, or later if its mail fan-out ended late."""
    day = date.fromisoformat(p.effective_date)
    if p.material:
        if p.notification_done_at is None:
            return date.max
        day = max(day, (as_utc(p.notification_done_at) + notice).astimezone(UTC).date())
    return day


@dataclass
class Policies:
    db: Database
    mailer: Mailer
    # RecipientService stub on auth.
    recipients: Any
    batch_size: int = 100
    public_url: str = ""
    # How long before a material change takes effect its notices must have gone out.
    notice: timedelta = DEFAULT_NOTICE

    def bootstrap(self, path: Path) -> None:
        """On a fresh install publish the repo's policy (without mail: there are no users yet)."""
        with self.db.session() as s:
            if s.scalar(select(PolicyVersion.version).limit(1)) is not None:
                return
        doc = parse_policy(path.read_text(encoding="utf-8"))
        try:
            self.publish(PolicyDocument(doc.version, doc.effective_date, False, doc.text))
        except AlreadyExists:
            return

    def publish(self, doc: PolicyDocument, today: date | None = None) -> PolicyVersion:
        earliest = (today or utcnow().date()) + self.notice
        if doc.material and date.fromisoformat(doc.effective_date) < earliest:
            raise InvalidArgument(
                f"a material change takes effect at least {self.notice.days} days after its "
                f"notices go out (POLICY_NOTICE_DAYS): date it {earliest.isoformat()} or later",
                code="policy_notice_too_short",
            )
        with self.db.session() as s:
            if s.get(PolicyVersion, doc.version) is not None:
                raise AlreadyExists(
                    f"policy version {doc.version} is already published", code="policy_exists"
                )
            row = PolicyVersion(
                version=doc.version,
                effective_date=doc.effective_date,
                text=doc.text,
                material=doc.material,
                published_at=utcnow(),
                notify_cursor="",
                notified=0,
                notification_done_at=None if doc.material else utcnow(),
            )
            s.add(row)
            s.flush()
            s.expunge(row)
        log.info("policy_published", version=doc.version, material=doc.material)
        return row

    def takes_effect(self, p: PolicyVersion) -> date:
        return takes_effect(p, self.notice)

    def current(self, now: datetime | None = None) -> PolicyVersion:
        """The version in force: the newest whose day has come; the first one before any has."""
        today = (now or utcnow()).date()
        versions = self.all()
        if not versions:
            raise NotFound("no privacy policy is published", code="policy_not_found")
        in_force = [p for p in versions if self.takes_effect(p) <= today]
        if not in_force:
            return versions[0]
        return max(in_force, key=lambda p: (self.takes_effect(p), as_utc(p.published_at)))

    def upcoming(self, now: datetime | None = None) -> list[PolicyVersion]:
        """Published versions not in force yet, soonest first."""
        current = self.current(now)
        today = (now or utcnow()).date()
        later = [
            p for p in self.all() if p.version != current.version and self.takes_effect(p) > today
        ]
        return sorted(later, key=self.takes_effect)

    def get(self, version: str) -> PolicyVersion:
        """Any published version, past, current or upcoming."""
        with self.db.session(readonly=True) as s:
            row = s.get(PolicyVersion, version) if version else None
            if row is None:
                raise NotFound(f"no policy version {version!r}", code="policy_not_found")
            s.expunge(row)
            return row

    def all(self) -> list[PolicyVersion]:
        with self.db.session(readonly=True) as s:
            rows = list(s.scalars(select(PolicyVersion).order_by(PolicyVersion.published_at)))
            s.expunge_all()
            return rows

    def notify_batch(self) -> int:
        """Timer: mail the next batch of users about the oldest unfinished material change."""
        with self.db.session(readonly=True) as s:
            row = s.scalar(
                select(PolicyVersion)
                .where(PolicyVersion.notification_done_at.is_(None))
                .order_by(PolicyVersion.published_at)
            )
            if row is None:
                return 0
            version, cursor, effective = row.version, row.notify_cursor, row.effective_date
        try:
            page = self.recipients.ListRecipients(
                privacy_pb2.ListRecipientsRequest(after_user_id=cursor, page_size=self.batch_size)
            ).recipients
        except grpc.RpcError as err:
            log.warning("policy_notify_waiting", version=version, code=err.code().name)
            return 0
        sent = 0
        for recipient in page:
            sent += self._notify_one(version, effective, recipient)
        with self.db.session() as s:
            row = s.get(PolicyVersion, version)
            assert row is not None
            if page:
                row.notify_cursor = page[-1].user_id
            else:
                # The cursor (a user id) has done its job: nothing of a user stays behind.
                row.notification_done_at, row.notify_cursor = utcnow(), ""
                log.info("policy_notify_done", version=version, notified=row.notified)
        return sent

    def _notify_one(self, version: str, effective: str, recipient: privacy_pb2.Recipient) -> int:
        with self.db.session() as s:
            if s.get(PolicyNotice, (version, recipient.user_id)) is not None:
                return 0
            base = self.public_url.rstrip("/")
            self.mailer.send(
                recipient.email,
                f"Our privacy policy changes on {effective} (version {version})",
                f"Hello {recipient.name},\n\n"
                f"we made a material change to our privacy policy. Version {version} takes "
                f"effect on {effective} at the earliest, {self.notice.days} days or more after "
                f"this notice; until then the current version applies. Read it at "
                f"{base}/app/privacy?version={version} or in the API "
                f"(GET {base}/v1/privacy/policies/{version}).\n\nPicture Optimizer\n",
                kind="policy_change",
            )
            s.add(PolicyNotice(version=version, user_id=recipient.user_id, sent_at=utcnow()))
            row = s.get(PolicyVersion, version, with_for_update=True)
            assert row is not None
            row.notified += 1
        return 1
