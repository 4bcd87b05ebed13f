"""The compliance report covers every promise of the policy, names real tests and settings,
shows a failing test as failing; the README's privacy table matches the code."""

from __future__ import annotations

import json
import re
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from picopt.events.v1 import events_pb2
from picopt.kernel.blobstore import FilesystemBlobStore
from picopt.kernel.db import Database
from picopt.kernel.mailer import Mailer
from picopt.kernel.messaging import Outbox
from picopt.kernel.messaging.deadletters import QueueDepth
from picopt.kernel.settings import Env
from picopt.retention.v1 import retention_pb2
from services.retention import compliance
from services.retention.deleter import Deleter
from services.retention.evidence import ComplianceEvidence, effective_settings
from services.retention.logpurge import LogPurges
from services.retention.policies import DEFAULT_POLICY_FILE, Policies
from services.retention.policy import RetentionPolicy
from services.retention.requests import Requests
from services.retention.tests.conftest import deliver, policy

ROOT = Path(__file__).resolve().parents[3]
POLICY = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")


def test_every_promise_of_the_policy_has_exactly_one_row_and_every_row_a_promise() -> None:
    bullets = compliance.policy_bullets(POLICY)
    assert len(bullets) >= 15
    for bullet in bullets:
        assert len(compliance.promise_of(bullet)) == 1, f"map this promise: {bullet[:70]!r}"
    for promise in compliance.PROMISES:
        assert any(b.startswith(promise.quote) for b in bullets), promise.id
    assert len({p.id for p in compliance.PROMISES}) == len(compliance.PROMISES)


def defined_tests() -> set[str]:
    found = set()
    for path in ROOT.glob("**/test_*.py"):
        if ".venv" in path.parts:
            continue
        module = path.relative_to(ROOT).as_posix()
        for name in re.findall(r"^def (test_\w+)", path.read_text(encoding="utf-8"), re.M):
            found.add(f"{module}::{name}")
    return found


def test_every_test_named_by_the_report_exists() -> None:
    known = defined_tests()
    named = {t for p in compliance.PROMISES for t in p.tests}
    assert named - known == set()
    assert all(p.tests for p in compliance.PROMISES), "every promise is proven by a test"


def evidence(**fields: Any) -> retention_pb2.GetComplianceEvidenceResponse:
    reply = retention_pb2.GetComplianceEvidenceResponse(
        settings=effective_settings(RetentionPolicy.from_env(Env({})), {}), **fields
    )
    reply.generated_at.GetCurrentTime()
    reply.last_sweep_at.GetCurrentTime()
    return reply


def junit(path: Path, failing: str) -> Path:
    cases = []
    for promise in compliance.PROMISES:
        for test in promise.tests:
            module, name = test.removesuffix("").split("::")
            classname = module.removesuffix(".py").replace("/", ".")
            body = "<failure message='boom'/>" if name == failing else ""
            cases.append(f"<testcase classname='{classname}' name='{name}[a]'>{body}</testcase>")
    path.write_text(f"<testsuites><testsuite>{''.join(cases)}</testsuite></testsuites>")
    return path


def test_a_failing_promise_test_shows_as_failing(tmp_path: Path) -> None:
    failing = "test_an_expired_session_takes_every_image_of_its_jobs"
    outcomes = compliance.read_test_report(junit(tmp_path / "pytest.xml", failing))
    doc = compliance.build(evidence(), POLICY, outcomes, "pytest.xml")
    by_id = {p["id"]: p for p in doc["promises"]}
    assert by_id["sessions"]["status"] == compliance.FAILED
    assert {t["result"] for t in by_id["sessions"]["tests"]} == {"failed", "passed"}
    assert by_id["api_keys"]["status"] == compliance.OK
    assert doc["summary"][compliance.FAILED] == 1
    assert len(doc["promises"]) == len(compliance.policy_bullets(POLICY))
    written = compliance.write(doc, tmp_path / "out")
    assert {p.name for p in written} == {
        "compliance-report.md",
        "compliance-report.json",
        "compliance-report.html",
    }
    markdown = (tmp_path / "out" / "compliance-report.md").read_text()
    assert f"`{failing}`: **failed**" in markdown
    assert json.loads((tmp_path / "out" / "compliance-report.json").read_text()) == doc


def test_without_a_test_report_every_test_shows_as_not_run(tmp_path: Path) -> None:
    doc = compliance.build(
        evidence(), POLICY, compliance.read_test_report(tmp_path / "no.xml"), "-"
    )
    results = {t["result"] for p in doc["promises"] for t in p["tests"]}
    assert results == {compliance.NOT_RUN}
    assert doc["summary"][compliance.OK] == 0


@pytest.mark.parametrize(
    ("fields", "kind", "measure"),
    [
        ({"overdue_requests": 2, "open_requests": 3}, "requests", "overdue requests"),
        (
            {"stored_objects": 1, "oldest_object_age_seconds": 90_000},
            "images",
            "oldest stored image",
        ),
        (
            {"dead_letters_error": "the broker could not be read"},
            "dead_letters",
            "dead-letter queues",
        ),
    ],
)
def test_live_evidence_beyond_a_promise_asks_for_attention(
    fields: dict[str, Any], kind: str, measure: str
) -> None:
    rows = compliance.evidence_rows(evidence(**fields))[kind]
    assert {r["measure"]: r["status"] for r in rows}[measure] == compliance.ATTENTION


# -- the README's privacy table against the code -----------------------------------


def readme_privacy_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Privacy guarantees") : text.index("### Not in the export")]
    rows = []
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| promise |"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            if len(cells) == 4:
                rows.append(cells)
    return rows


SECONDS = {"s": 1, "min": 60, "h": 3600, "hour": 3600, "hours": 3600, "day": 86_400, "days": 86_400}


def source_text() -> str:
    return "\n".join(
        p.read_text(encoding="utf-8")
        for base in ("services", "picopt")
        for p in (ROOT / base).rglob("*.py")
        if "tests" not in p.parts
    )


def test_the_readme_privacy_table_names_real_settings_defaults_and_tests() -> None:
    rows = readme_privacy_rows()
    assert len(rows) >= 15
    source = source_text()
    defaults = effective_settings(RetentionPolicy.from_env(Env({})), {})
    tests = {t.split("::")[1] for t in defined_tests()}
    for promise, _mechanism, settings, proof in rows:
        for name in re.findall(r"`([A-Z][A-Z0-9_]{3,})`", settings):
            assert f'"{name}"' in source, f"{promise}: {name} is read nowhere"
        for name, number, unit in re.findall(
            r"`([A-Z][A-Z0-9_]+)` \(([0-9.]+) ?(s|days?|h|hours?|min)?\b", settings
        ):
            default = defaults.get(name, "")
            if re.match(r"^[0-9.]+ (s|days)$", default):
                value, default_unit = default.split()
                stated = float(number) * SECONDS[unit or default_unit]
                assert stated == float(value) * SECONDS[default_unit], (
                    f"{promise}: {name} defaults to {default}"
                )
        for test in re.findall(r"`(test_\w+)`", proof):
            assert test in tests, f"{promise}: no test {test}"
        for path in re.findall(r"`([\w/]+\.py)`", proof):
            assert (ROOT / path).exists(), f"{promise}: no file {path}"


def test_evidence_is_read_from_the_embedded_sqlite_database_as_under_make_up(
    db: Database, blobs: FilesystemBlobStore, tmp_path: Path
) -> None:
    p = policy()
    requests = Requests(db, Outbox("retention"), p)
    erasure = requests.open("u1", "erasure", actor="user").request.id
    for service in p.erasure_services:
        deliver(
            db,
            requests.on_erased,
            events_pb2.AccountErased(user_id="u1", request_id=erasure, service=service),
        )
    requests.open("u2", "export", actor="user")
    purge_id, cutoff = LogPurges(db, Outbox("retention"), p).order()
    deliver(
        db,
        LogPurges(db, Outbox("retention"), p).on_purged,
        events_pb2.LogsPurged(request_id=purge_id, service="auth", counts={"api_calls": 4}),
    )
    policies = Policies(db, Mailer("x <x@localhost>", mail_dir=tmp_path / "mail"), None)
    policies.bootstrap(DEFAULT_POLICY_FILE)
    queue = QueueDepth("processor.job.analyzed.dlq", 2, 30.0)
    evidence = ComplianceEvidence(
        db, Deleter(db, blobs, p), requests, policies, p, {}, "amqp://x", "k1", lambda *_: [queue]
    ).collect()
    assert (evidence.open_requests, evidence.overdue_requests) == (1, 0)
    assert evidence.last_erasure_id == erasure and evidence.last_erasure_seconds >= 0
    (purge,) = evidence.log_purges
    assert (purge.service, purge.rows_purged) == ("auth", 4)
    assert abs(purge.older_than.ToDatetime(tzinfo=UTC) - cutoff) < timedelta(seconds=1)
    assert evidence.policy_version and evidence.settings["RETENTION_LOG_DAYS"] == "90 days"
    assert [(q.queue, q.depth) for q in evidence.dead_letter_queues] == [(queue.queue, 2)]
    rows = compliance.evidence_rows(evidence)
    assert {r["status"] for r in rows["dead_letters"]} == {compliance.OK}
