"""The compliance report: every promise of the privacy policy with its proof.

For each promise of `docs/privacy-policy.md` (one bullet each): the mechanism
that keeps it, the settings behind it and their values in this deployment, the
tests that prove it with their last result (read from the JUnit XML report that
`make test` writes), and live evidence from the running system
(`services.retention.evidence`). Written as Markdown, JSON and HTML for an
auditor; `tests` map each promise to real tests, and a test checks that the
promises here are exactly the policy's bullets.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from picopt.kernel.messaging import DeadLetterPolicy
from picopt.kernel.settings import Env
from picopt.retention.v1 import retention_pb2

PASSED, FAILED, SKIPPED, NOT_RUN = "passed", "failed", "skipped", "not run"
OK, ATTENTION = "ok", "attention"


@dataclass(frozen=True)
class Promise:
    """One bullet of the policy: `quote` is how it begins there."""

    id: str
    quote: str
    mechanism: str
    settings: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()


IT = "tests/integration"
PROMISES: tuple[Promise, ...] = (
    Promise(
        "account",
        "**Account**",
        "auth stores argon2id hashes only (rehashed when parameters grow); a provider sign-in "
        "keeps the provider name and subject, never its codes or tokens",
        tests=(
            "services/auth/tests/test_sessions.py::test_login_rehashes_weaker_parameters",
            f"{IT}/test_identity_secure.py::test_provider_codes_and_tokens_are_not_kept",
            f"{IT}/test_identity.py::test_auth_database_holds_no_key_or_session_in_clear",
        ),
    ),
    Promise(
        "api_keys",
        "**API keys**",
        "a key is shown once; auth keeps a lookup prefix and a keyed hash",
        tests=(
            "services/auth/tests/test_api_keys.py::test_api_keys_are_stored_as_keyed_hashes_and_revocable",
            f"{IT}/test_identity.py::test_auth_database_holds_no_key_or_session_in_clear",
        ),
    ),
    Promise(
        "payments",
        "**Payments**",
        "Stripe Checkout or Stripe's payment element take the card; billing stores Stripe ids, "
        "amounts, currencies and dates only",
        tests=(
            f"{IT}/test_billing.py::test_payment_intent_purchase_through_localstripe_then_refund_and_reconcile",
            f"{IT}/test_billing_checkout.py::test_checkout_session_purchase_is_granted_once_whatever_the_order",
        ),
    ),
    Promise(
        "usage",
        "**Usage**",
        "append-only credit ledger, job rows and an API call log of route templates (no paths, "
        "bodies or addresses)",
        tests=(
            f"{IT}/test_billing.py::test_usage_lists_captured_jobs_per_job_and_per_day",
            f"{IT}/test_identity.py::test_call_log_records_route_templates_not_paths",
        ),
    ),
    Promise(
        "originals",
        "Originals are deleted as soon as their job ends",
        "retention deletes the upload on job.completed / job.failed, verifies and audits it",
        tests=(
            f"{IT}/test_retention.py::test_no_blob_survives_the_limit_with_retention_down_and_events_lost",
            f"{IT}/test_sessions.py::test_a_refused_job_results_are_deleted_by_retention_and_audited",
        ),
        evidence=("images",),
    ),
    Promise(
        "results",
        "Results are deleted shortly after you download them",
        "per-object deadline capped at the image TTL, download grace, a 1 s timer and a "
        "backstop sweep over the blob store that needs no events; dead letters naming image "
        "content expire within hours",
        settings=(
            "RETENTION_IMAGE_TTL",
            "RETENTION_DOWNLOAD_GRACE",
            "RETENTION_SWEEP_INTERVAL",
            "RETENTION_ORPHAN_GRACE",
            "EVENT_DLQ_IMAGE_TTL_S",
        ),
        tests=(
            f"{IT}/test_retention.py::test_no_blob_survives_the_limit_with_retention_down_and_events_lost",
            "picopt/kernel/tests/test_dead_letters.py::test_dead_letter_queues_expire_and_image_content_sooner",
        ),
        evidence=("images", "sweep", "dead_letters"),
    ),
    Promise(
        "sessions",
        "The images of a processing session",
        "every job's deadline is capped at its session's end; closing or expiry deletes every "
        "input and result of the session's jobs",
        settings=("RETENTION_SESSION_TTL",),
        tests=(
            f"{IT}/test_sessions.py::test_an_expired_session_takes_every_image_of_its_jobs",
            f"{IT}/test_sessions.py::test_closing_a_session_deletes_at_once_and_other_users_cannot_use_it",
        ),
        evidence=("images",),
    ),
    Promise(
        "job_traces",
        "A job's small preview",
        "retention announces result.deleted and the processor clears preview, BlurHash and file "
        "name; a timer fails jobs still active at their deadline (credits released, images "
        "deleted) and clears rows past it",
        settings=("PROCESSOR_EXPIRY_INTERVAL",),
        tests=(
            f"{IT}/test_retention.py::test_a_job_row_forgets_preview_blurhash_and_file_name_with_its_result",
            f"{IT}/test_retention.py::test_a_job_stuck_past_its_deadline_fails_releases_its_credits_and_loses_its_upload",
            "services/processor/tests/test_expiry.py::test_jobs_past_their_deadline_fail_and_every_such_row_forgets_its_traces",
        ),
    ),
    Promise(
        "encryption",
        "Images are encrypted at rest",
        "AES-256-GCM envelope encryption per object under rotatable master keys; mTLS between "
        "services when configured, HTTPS at the ingress",
        settings=("GRPC_TLS_CERT",),
        tests=(
            "picopt/kernel/tests/test_blobstore.py::test_roundtrip_stores_only_ciphertext",
            f"{IT}/test_privacy.py::test_master_key_rotation_without_downtime",
            "picopt/kernel/tests/test_grpc_tls.py::test_plaintext_client_is_refused",
        ),
        evidence=("keys",),
    ),
    Promise(
        "ai",
        "AI metadata (alt text",
        "the embedded local provider is the default; external providers are opt-in and sent "
        "with no-store flags; the enabled ones are what vision reports",
        settings=("VISION_PROVIDER", "VISION_ALLOWED_PROVIDERS"),
        tests=(
            "services/vision/tests/test_remote.py::test_openai_request_uses_strict_json_schema_and_no_store",
            f"{IT}/test_vision.py::test_the_privacy_facts_are_what_vision_and_retention_report",
        ),
    ),
    Promise(
        "logs",
        "Processing and API-call logs: 90 days",
        "retention orders logs.purge with the cutoff; every service deletes older rows of its "
        "logs and bookkeeping and confirms with counts; dead letters expire within 14 days",
        settings=("RETENTION_LOG_DAYS", "RETENTION_LOG_PURGE_INTERVAL", "EVENT_DLQ_TTL_S"),
        tests=(
            f"{IT}/test_privacy.py::test_log_purge_reaches_every_service_and_reports_counts",
            "services/retention/tests/test_erasure.py::test_the_log_purge_bounds_the_deletion_log_and_finished_policy_notices",
            "picopt/kernel/tests/test_dead_letters.py::test_dead_letter_queues_expire_and_image_content_sooner",
        ),
        evidence=("logs", "dead_letters"),
    ),
    Promise(
        "account_erasure",
        "Account data: deleted within 30 days",
        "a request with a deadline sends account.erase to every service holding personal data "
        "and completes when all confirmed (re-sent until then); erased rows are scrubbed from "
        "the database files (SQLite secure_delete + WAL checkpoint, PostgreSQL VACUUM); mail "
        "files and dead letters naming the user go too; a restore re-erases",
        settings=(
            "RETENTION_ERASURE_DAYS",
            "RETENTION_ERASURE_RETRY",
            "RETENTION_ERASURE_SERVICES",
            "RETENTION_OVERDUE_AFTER",
            "MAIL_FILE_TTL_S",
        ),
        tests=(
            f"{IT}/test_privacy.py::test_erasure_with_a_service_down_completes_after_it_returns_and_no_database_names_the_user",
            f"{IT}/test_retention.py::test_sqlite_files_hold_no_byte_of_an_erased_account",
            f"{IT}/test_retention.py::test_longer_durations_are_refused_at_start_up",
            f"{IT}/test_privacy.py::test_the_restore_runbook_lists_the_erasures_a_restore_would_forget",
            f"{IT}/test_restore.py::test_a_restore_forgets_later_erasures_and_the_runbook_makes_them_gone_again",
            "picopt/kernel/tests/test_scrub.py::test_postgres_vacuums_the_tables_an_erasure_wrote_to",
            "picopt/kernel/tests/test_dead_letters.py::test_erasure_removes_the_users_dead_letters",
        ),
        evidence=("requests", "erasure"),
    ),
    Promise(
        "billing",
        "Billing records the law requires us to keep stay",
        "erasure scrubs metadata.user_id at Stripe, deletes the Stripe customer and unpaid "
        "purchases, and strips every link to the person from paid ones",
        tests=(
            f"{IT}/test_sessions.py::test_erasure_deletes_the_stripe_customer_and_scrubs_the_payments",
            "services/billing/tests/test_erasure_stripe.py::test_erasure_waits_while_a_payment_at_stripe_still_names_the_user",
        ),
        evidence=("erasure",),
    ),
    Promise(
        "export",
        "`POST /v1/account/export`",
        "retention streams every service's part into an encrypted zip whose manifest counts "
        "the rows of every table; listed and downloadable for its lifetime; staff find the "
        "account by address and mail it",
        settings=("RETENTION_EXPORT_TTL", "RETENTION_EXPORTERS", "RETENTION_EXPORT_MAIL_MAX_BYTES"),
        tests=(
            f"{IT}/test_privacy.py::test_the_export_holds_every_row_that_names_the_user",
            f"{IT}/test_privacy.py::test_exports_are_listed_and_staff_deliver_one_asked_for_by_email",
            "services/auth/tests/test_privacy_export.py::test_every_api_call_is_exported_as_a_stream_with_flat_memory",
        ),
        evidence=("requests",),
    ),
    Promise(
        "delete",
        "`DELETE /v1/account` disables your account at once",
        "the gateway records the request and has auth disable the account before answering; "
        "the erasure then runs everywhere",
        settings=("RETENTION_ERASURE_DAYS",),
        tests=(
            f"{IT}/test_privacy.py::test_erasure_with_a_service_down_completes_after_it_returns_and_no_database_names_the_user",
            "services/auth/tests/test_erasure.py::test_disable_revokes_everything_and_erase_deletes_everything",
        ),
        evidence=("requests", "erasure"),
    ),
    Promise(
        "corrections",
        "For corrections",
        "every request (export, erasure, correction) has a 30-day deadline, an audit trail and "
        "an overdue flag raised well before it",
        settings=("RETENTION_ERASURE_DAYS", "RETENTION_OVERDUE_AFTER"),
        tests=(
            "services/retention/tests/test_requests.py::test_corrections_are_closed_by_staff_but_erasures_only_by_confirmations",
            "services/retention/tests/test_requests.py::test_stale_erasures_are_sent_again_and_flagged_overdue_long_before_the_deadline",
        ),
        evidence=("requests",),
    ),
    Promise(
        "cookies",
        "Only essential cookies",
        "session and CSRF cookies only (HttpOnly, Secure, SameSite); metrics are counters "
        "whose labels are bounded dimensions, never ids",
        settings=("SESSION_COOKIE_SECURE",),
        tests=(
            f"{IT}/test_identity.py::test_session_cookie_flags_csrf_and_logout_everywhere",
            f"{IT}/test_identity_secure.py::test_secure_cookies_and_hsts_behind_a_tls_proxy",
            "picopt/kernel/tests/test_metrics_labels.py::test_metrics_are_aggregate_counters_without_personal_labels",
        ),
    ),
    Promise(
        "versions",
        "We publish every version of this policy",
        "retention keeps every published version; GET /v1/privacy serves the one in force, "
        "GET /v1/privacy/policies/{version} any of them",
        tests=(
            f"{IT}/test_privacy.py::test_policy_is_served_and_a_material_change_mails_each_user_once",
            "services/retention/tests/test_policies.py::test_every_version_stays_readable",
        ),
        evidence=("policy",),
    ),
    Promise(
        "material_changes",
        "A material change is emailed",
        "a material version must be dated POLICY_NOTICE_DAYS after publication, is mailed to "
        "every user once in resumable batches, and takes effect no sooner than that after the "
        "last notice",
        settings=("POLICY_NOTICE_DAYS", "RETENTION_NOTIFY_BATCH", "RETENTION_NOTIFY_INTERVAL"),
        tests=(
            f"{IT}/test_privacy.py::test_policy_is_served_and_a_material_change_mails_each_user_once",
            "services/retention/tests/test_policies.py::test_the_old_version_is_served_until_the_change_takes_effect",
            "services/retention/tests/test_exports_policies_keys.py::test_a_material_change_mails_every_user_once_in_resumable_batches",
        ),
        evidence=("policy",),
    ),
)


def policy_bullets(markdown: str) -> list[str]:
    """Every bullet of the policy text (front matter and headings aside), one line each."""
    bullets: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("- "):
            bullets.append(line[2:].strip())
        elif bullets and line.startswith("  ") and line.strip():
            bullets[-1] += " " + line.strip()
        elif not line.strip() or line.startswith("#"):
            continue
    return bullets


def promise_of(bullet: str) -> list[Promise]:
    return [p for p in PROMISES if bullet.startswith(p.quote)]


# -- test results ------------------------------------------------------------------


def read_test_report(path: Path) -> dict[str, list[str]] | None:
    """Outcomes per test function ("file.py::name", parameters folded) of a JUnit XML report."""
    if not path.is_file():
        return None
    outcomes: dict[str, list[str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 (our own report)
        module = case.get("classname", "").replace(".", "/")
        name = re.sub(r"\[.*\]$", "", case.get("name", ""))
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = FAILED
        elif case.find("skipped") is not None:
            outcome = SKIPPED
        else:
            outcome = PASSED
        outcomes.setdefault(f"{module}.py::{name}", []).append(outcome)
    return outcomes


def result_of(node: str, outcomes: Mapping[str, list[str]] | None) -> str:
    if outcomes is None or node not in outcomes:
        return NOT_RUN
    found = outcomes[node]
    if FAILED in found:
        return FAILED
    return PASSED if PASSED in found else SKIPPED


# -- evidence ----------------------------------------------------------------------


def _ts(ts: Any) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if ts.seconds or ts.nanos else None


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _since(at: datetime | None, now: datetime) -> str:
    return (
        "never"
        if at is None
        else f"{at:%Y-%m-%d %H:%M:%S} UTC ({_age((now - at).total_seconds())} ago)"
    )


def _seconds(setting: str) -> float | None:
    match = re.match(r"^([0-9.]+) (s|days)$", setting)
    if not match:
        return None
    return float(match.group(1)) * (86_400 if match.group(2) == "days" else 1)


def _event_type(dlq: str) -> str:
    """`<service>.<event type>.dlq` -> the event type."""
    return dlq.removesuffix(".dlq").partition(".")[2]


def evidence_rows(
    e: retention_pb2.GetComplianceEvidenceResponse,
) -> dict[str, list[dict[str, str]]]:
    """Live evidence by kind, each row a measure, its value and ok/attention."""
    now = _ts(e.generated_at) or datetime.now(UTC)
    settings = dict(e.settings)
    ttl = _seconds(settings.get("RETENTION_IMAGE_TTL", "")) or 86_400.0
    sweep = _seconds(settings.get("RETENTION_SWEEP_INTERVAL", "")) or 300.0
    purge_every = _seconds(settings.get("RETENTION_LOG_PURGE_INTERVAL", "")) or 3600.0
    log_age = _seconds(settings.get("RETENTION_LOG_DAYS", "")) or 90 * 86_400.0

    def row(measure: str, value: str, ok: bool | None = None) -> dict[str, str]:
        return {
            "measure": measure,
            "value": value,
            "status": "" if ok is None else (OK if ok else ATTENTION),
        }

    last_sweep = _ts(e.last_sweep_at)
    rows: dict[str, list[dict[str, str]]] = {
        "images": [
            row("stored images", str(e.stored_objects)),
            row(
                "oldest stored image",
                _age(e.oldest_object_age_seconds) if e.stored_objects else "none stored",
                e.oldest_object_age_seconds <= ttl + sweep,
            ),
        ],
        "sweep": [
            row(
                "last sweep",
                _since(last_sweep, now),
                last_sweep is not None and (now - last_sweep).total_seconds() <= 2 * sweep,
            )
        ],
        "requests": [
            row("open requests", str(e.open_requests)),
            row("overdue requests", str(e.overdue_requests), e.overdue_requests == 0),
        ],
        "erasure": [
            row("last erasure completed", _since(_ts(e.last_erasure_completed_at), now)),
            row(
                "it took",
                _age(e.last_erasure_seconds) if e.last_erasure_id else "-",
                None if not e.last_erasure_id else e.last_erasure_seconds <= 30 * 86_400,
            ),
        ],
        "keys": [row("master key in use (id)", e.master_key_id or "-")],
        "policy": [
            row("version in force", e.policy_version or "-", bool(e.policy_version)),
            row("announced, not in force yet", ", ".join(e.upcoming_policy_versions) or "none"),
        ],
    }
    oldest_log = _ts(e.oldest_log_row_at)
    logs = [
        row(
            "oldest row of retention's deletion log",
            _since(oldest_log, now) if oldest_log else "none",
            oldest_log is None or (now - oldest_log).total_seconds() <= log_age + 2 * purge_every,
        )
    ]
    for p in e.log_purges:
        confirmed, cutoff = _ts(p.confirmed_at), _ts(p.older_than)
        recent = confirmed is not None and (now - confirmed).total_seconds() <= 2 * purge_every
        logs.append(
            row(
                f"{p.service}: last purge confirmed",
                f"{_since(confirmed, now)}, nothing older than {cutoff:%Y-%m-%d %H:%M} UTC left, "
                f"{p.rows_purged} rows purged"
                if cutoff
                else _since(confirmed, now),
                recent,
            )
        )
    if not e.log_purges:
        logs.append(
            row("log purges confirmed", "none yet (the first runs one interval after start)")
        )
    rows["logs"] = logs
    configured = {
        k: v
        for k in ("EVENT_DLQ_TTL_S", "EVENT_DLQ_IMAGE_TTL_S")
        if (v := settings.get(k, "default")) != "default"
    }
    dlq_policy = DeadLetterPolicy.from_env(Env(configured))
    dead = []
    if e.dead_letters_error:
        dead.append(row("dead-letter queues", e.dead_letters_error, False))
    for q in e.dead_letter_queues:
        oldest = "-" if q.oldest_age_seconds < 0 else _age(q.oldest_age_seconds)
        dead.append(
            row(
                q.queue,
                f"{q.depth} messages, oldest {oldest}",
                # A dead letter leaves at its TTL, at most one more TTL later (quorum
                # queues expire from the head only).
                q.oldest_age_seconds < 2 * dlq_policy.ttl_for(_event_type(q.queue)),
            )
        )
    if not dead:
        dead.append(row("dead-letter queues", "none exist yet", True))
    rows["dead_letters"] = dead
    return rows


# -- the document ------------------------------------------------------------------


def build(
    e: retention_pb2.GetComplianceEvidenceResponse,
    policy_text: str,
    outcomes: Mapping[str, list[str]] | None,
    tests_source: str,
) -> dict[str, Any]:
    """The report as one JSON-able document: a row per promise of the policy."""
    evidence = evidence_rows(e)
    settings = dict(e.settings)
    promises = []
    for bullet in policy_bullets(policy_text):
        for p in promise_of(bullet) or [Promise("unmapped", bullet[:40], "no mechanism named")]:
            tests = [{"test": t, "result": result_of(t, outcomes)} for t in p.tests]
            live = [r for kind in p.evidence for r in evidence.get(kind, [])]
            failing = any(t["result"] == FAILED for t in tests) or p.id == "unmapped"
            unproven = not tests or any(t["result"] != PASSED for t in tests)
            attention = any(r["status"] == ATTENTION for r in live)
            promises.append(
                {
                    "id": p.id,
                    "promise": bullet,
                    "mechanism": p.mechanism,
                    "settings": [
                        {"name": s, "value": settings.get(s, "not reported")} for s in p.settings
                    ],
                    "tests": tests,
                    "evidence": live,
                    "status": FAILED if failing else (ATTENTION if unproven or attention else OK),
                }
            )
    return {
        "generated_at": (_ts(e.generated_at) or datetime.now(UTC)).isoformat(),
        "test_report": tests_source,
        "summary": {
            status: sum(1 for p in promises if p["status"] == status)
            for status in (OK, ATTENTION, FAILED)
        },
        "promises": promises,
        "settings": dict(sorted(settings.items())),
        "evidence": evidence,
    }


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Mapping[str, Any]) -> str:
    s = doc["summary"]
    lines = [
        "# Privacy compliance report",
        "",
        f"Generated {doc['generated_at']} from the running system; test results from "
        f"{doc['test_report']}.",
        "",
        f"Promises: {s[OK]} ok, {s[ATTENTION]} need attention, {s[FAILED]} failing.",
        "",
        "| # | promise | status | mechanism | settings | tests (last result) | live evidence |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, p in enumerate(doc["promises"], 1):
        settings = "<br>".join(f"`{x['name']}` = {_md(x['value'])}" for x in p["settings"]) or "-"
        tests = "<br>".join(f"`{t['test'].split('::')[-1]}`: **{t['result']}**" for t in p["tests"])
        live = (
            "<br>".join(
                f"{_md(r['measure'])}: {_md(r['value'])}"
                + (f" ({r['status']})" if r["status"] else "")
                for r in p["evidence"]
            )
            or "-"
        )
        lines.append(
            f"| {i} | {_md(p['promise'])} | **{p['status']}** | {_md(p['mechanism'])} | "
            f"{settings} | {tests or '-'} | {live} |"
        )
    lines += ["", "## Settings in force", "", "| setting | value |", "|---|---|"]
    lines += [f"| `{k}` | {_md(v)} |" for k, v in doc["settings"].items()]
    lines += ["", "## Live evidence", ""]
    for kind, rows in doc["evidence"].items():
        lines += [f"### {kind}", "", "| measure | value | status |", "|---|---|---|"]
        lines += [f"| {_md(r['measure'])} | {_md(r['value'])} | {r['status']} |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def to_html(doc: Mapping[str, Any]) -> str:
    def cell(items: Iterable[str]) -> str:
        return "<br>".join(items) or "-"

    rows = []
    for p in doc["promises"]:
        settings = cell(html.escape(f"{x['name']} = {x['value']}") for x in p["settings"])
        tests = cell(html.escape(f"{t['test']}: {t['result']}") for t in p["tests"])
        live = cell(
            html.escape(f"{r['measure']}: {r['value']} {r['status']}") for r in p["evidence"]
        )
        rows.append(
            "<tr>"
            f"<td>{html.escape(p['promise'])}</td>"
            f"<td class='{p['status']}'>{p['status']}</td>"
            f"<td>{html.escape(p['mechanism'])}</td>"
            f"<td>{settings}</td><td>{tests}</td><td>{live}</td>"
            "</tr>"
        )
    s = doc["summary"]
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        "<title>Privacy compliance report</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:4px;vertical-align:top}"
        ".failed{background:#fcc}.attention{background:#ffc}.ok{background:#cfc}</style>"
        "<h1>Privacy compliance report</h1>"
        f"<p>Generated {html.escape(doc['generated_at'])}; tests from "
        f"{html.escape(doc['test_report'])}. {s[OK]} ok, {s[ATTENTION]} need attention, "
        f"{s[FAILED]} failing.</p>"
        "<table><tr><th>promise</th><th>status</th><th>mechanism</th><th>settings</th>"
        "<th>tests</th><th>live evidence</th></tr>" + "".join(rows) + "</table></html>\n"
    )


def write(doc: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """compliance-report.md, .json and .html in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "compliance-report.md": to_markdown(doc),
        "compliance-report.json": json.dumps(doc, indent=2),
        "compliance-report.html": to_html(doc),
    }
    written = []
    for name, text in paths.items():
        (out_dir / name).write_text(text, encoding="utf-8")
        written.append(out_dir / name)
    return written
