"""Processing sessions, a refused job's results and the Stripe customer at erasure, through
the running services.

One stack: the safety policy refuses every job with AI metadata (issue 6: its results are
deleted and audited by retention), localstripe serves Stripe, and jobs without AI metadata
complete normally for the session tests.
"""

from __future__ import annotations

import io
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import psycopg
import pytest
import requests
import stripe
from PIL import Image
from skimage import data as skdata

from picopt.client import ApiError, Client
from picopt.devstack import Stack
from picopt.retention.v1 import retention_pb2, retention_pb2_grpc
from tests.integration.conftest import blob_dir, new_user, wait_for
from tests.integration.harness import (
    LOCALSTRIPE_KEY,
    deliver_stripe_webhooks,
    pay_with_test_card,
    running_localstripe,
    running_stack,
)
from tests.integration.images import graphic_png

pytestmark = pytest.mark.integration

STRIPE_KEY = LOCALSTRIPE_KEY
STAFF_TOKEN = secrets.token_urlsafe(24)
SESSION_TTL_S = 30


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """localstripe on a free loopback port, from scratch, for this module only."""
    with running_localstripe(tmp_path_factory.mktemp("localstripe")) as url:
        yield url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, localstripe: str) -> Iterator[Stack]:
    env = {
        "VISION_SAFETY_POLICY": "refuse",
        "VISION_NSFW_BLOCK_AT": "0.0001",
        "STRIPE_API_KEY": STRIPE_KEY,
        "STRIPE_API_BASE": localstripe,
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "BILLING_PURCHASE_MODE": "payment_intent",
        "RETENTION_STAFF_TOKEN": STAFF_TOKEN,
        "RETENTION_ERASURE_RETRY": "5",
        "RETENTION_REQUEST_CHECK_INTERVAL": "1",
    }
    with running_stack(tmp_path_factory.mktemp("sessions"), extra_env=env) as running:
        yield running


def photo() -> bytes:
    """A real photograph: the safety score of a flat graphic can be exactly zero."""
    out = io.BytesIO()
    Image.fromarray(skdata.astronaut()).save(out, "JPEG", quality=90)
    return out.getvalue()


def files_of(stack: Stack, job_id: str) -> list[str]:
    return [str(p) for p in blob_dir(stack).rglob("*") if p.is_file() and job_id in str(p)]


def deletions(stack: Stack, job_id: str) -> dict[str, tuple[str, bool]]:
    """The audit log's rows for a job's objects: key -> (reason, verified)."""
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT key, reason, verified FROM retention.deletion_log WHERE key LIKE %s",
            (f"%{job_id}%",),
        ).fetchall()
    return {key: (reason, verified) for key, reason, verified in rows}


def open_session(user: Client, **body: Any) -> dict[str, Any]:
    return dict(user._call("POST", "/v1/sessions", json=body).json())


def test_an_expired_session_takes_every_image_of_its_jobs(stack: Stack) -> None:
    user = new_user(stack)
    session = open_session(user, ttl_seconds=SESSION_TTL_S)
    assert session["status"] == "open" and session["ended_at"] is None
    single = user.submit(graphic_png(), metadata=False, session_id=session["id"])
    (batched,) = user.submit_batch(
        [("b.png", graphic_png())], metadata=False, session_id=session["id"]
    )
    outside = user.submit(graphic_png(), metadata=False)
    for job in (single, batched, outside):
        assert user.wait(job["id"])["status"] == "done"
    # Not downloaded: the results are still there while the session is open.
    assert user._call("GET", f"/v1/sessions/{session['id']}").json()["status"] == "open"
    assert files_of(stack, single["id"]) and files_of(stack, batched["id"])
    assert user.job(single["id"])["expires_at"] == session["expires_at"]  # capped at its end

    ended = wait_for(
        lambda: (
            (s := user._call("GET", f"/v1/sessions/{session['id']}").json())["status"] == "expired"
            and not files_of(stack, single["id"])
            and not files_of(stack, batched["id"])
            and s
        ),
        timeout=SESSION_TTL_S + 30,
        what="the session's images deleted at expiry",
    )
    assert ended["images_deleted"] >= 2  # at least the two results
    for job in (single, batched):
        assert (f"results/{job['id']}/0") in deletions(stack, job["id"])
        assert deletions(stack, job["id"])[f"results/{job['id']}/0"] == ("session_expired", True)
    assert files_of(stack, outside["id"])  # a job outside the session keeps its result
    with pytest.raises(ApiError) as late:
        user.submit(graphic_png(), metadata=False, session_id=session["id"])
    assert late.value.status == 409 and late.value.problem["type"].endswith("session-ended")


def test_closing_a_session_deletes_at_once_and_other_users_cannot_use_it(stack: Stack) -> None:
    user, other = new_user(stack), new_user(stack)
    session = open_session(user)
    job = user.submit(graphic_png(), metadata=False, session_id=session["id"])
    assert user.wait(job["id"])["status"] == "done"

    before = other.balance()["available"]
    for attempt in (
        lambda: other.submit(graphic_png(), metadata=False, session_id=session["id"]),
        lambda: other._call("GET", f"/v1/sessions/{session['id']}"),
        lambda: other._call("DELETE", f"/v1/sessions/{session['id']}"),
        lambda: user._call("GET", f"/v1/sessions/{uuid.uuid4()}"),
    ):
        with pytest.raises(ApiError) as refused:
            attempt()
        assert refused.value.status == 404
        assert refused.value.problem["type"].endswith("session-not-found")
    assert other.balance()["available"] == before  # nothing was reserved
    with pytest.raises(ApiError) as bad:
        user.submit(graphic_png(), metadata=False, session_id="not-a-session")
    assert bad.value.status == 400 and bad.value.problem["field"] == "session_id"
    with pytest.raises(ApiError) as too_long:
        open_session(user, ttl_seconds=86_401)
    assert too_long.value.status == 400

    closed = user._call("DELETE", f"/v1/sessions/{session['id']}").json()
    # The result, and the upload too if the job.completed event had not arrived yet.
    assert closed["status"] == "closed" and closed["images_deleted"] >= 1
    # Deleted within the request: nothing to wait for.
    assert not files_of(stack, job["id"])
    assert deletions(stack, job["id"])[f"results/{job['id']}/0"] == ("session_expired", True)
    with pytest.raises(ApiError) as gone:
        user.download(job["id"])
    assert gone.value.status == 410


def test_a_refused_job_results_are_deleted_by_retention_and_audited(stack: Stack) -> None:
    user = new_user(stack)
    job = user.submit(photo(), metadata=True)
    done = user.wait(job["id"], timeout=120)
    assert done["status"] == "failed" and done["error"]["code"] == "content_policy"
    wait_for(lambda: not files_of(stack, job["id"]), what="upload and results deleted")
    audit = wait_for(
        lambda: (d := deletions(stack, job["id"])) and len(d) == 2 and d,
        what="both deletions audited",
    )
    assert audit == {
        f"uploads/{job['id']}": ("job_ended", True),
        f"results/{job['id']}/0": ("job_ended", True),
    }


def test_erasure_deletes_the_stripe_customer_and_scrubs_the_payments(
    stack: Stack, localstripe: str
) -> None:
    deliver_stripe_webhooks(localstripe, stack.gateway_url(), stack.env["STRIPE_WEBHOOK_SECRET"])
    stripe_client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": localstripe})
    user = new_user(stack)
    user_id = user.account()["id"]
    paid = user.checkout("pack_100", idempotency_key="first")["payment_intent_id"]
    pay_with_test_card(stripe_client, paid)
    wait_for(lambda: user.balance()["purchased"] == 100, what="purchased credits")
    pending = user.checkout("pack_100", idempotency_key="second")["payment_intent_id"]
    url = stack.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        (customer_id,) = conn.execute(
            "SELECT customer_id FROM billing.stripe_customers WHERE user_id = %s", (user_id,)
        ).fetchone() or ("",)
    assert customer_id
    at_stripe = f"{localstripe}/v1/customers/{customer_id}"
    assert requests.get(at_stripe, auth=(STRIPE_KEY, ""), timeout=5).status_code == 200
    for intent in (paid, pending):
        assert stripe_client.v1.payment_intents.retrieve(intent).metadata["user_id"] == user_id

    request_id = user.delete_account(password="correct horse battery staple")["id"]
    with grpc.insecure_channel(stack.grpc_address("retention")) as channel:
        staff = retention_pb2_grpc.RetentionServiceStub(channel)
        metadata = (("authorization", f"Bearer {STAFF_TOKEN}"),)
        wait_for(
            lambda: (
                staff.GetRequest(
                    retention_pb2.GetRequestRequest(id=request_id), metadata=metadata
                ).request.status
                == "completed"
            ),
            timeout=60,
            what="erasure completed",
        )
    assert requests.get(at_stripe, auth=(STRIPE_KEY, ""), timeout=5).status_code == 404
    for intent in (paid, pending):
        scrubbed = stripe_client.v1.payment_intents.retrieve(intent).to_dict()["metadata"]
        assert not scrubbed.get("user_id") and scrubbed["purchase_id"]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT payment_intent_id, user_id, request_key, stripe_customer_id,"
            " checkout_session_id, amount, currency, paid_at IS NOT NULL"
            " FROM billing.purchases WHERE payment_intent_id IN (%s, %s)",
            (paid, pending),
        ).fetchall()
    # What tax law needs of the paid purchase stays, without anything leading to the person;
    # the purchase never paid is gone.
    assert rows == [(paid, None, None, "", None, 500, "eur", True)]
