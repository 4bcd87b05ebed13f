"""Signed Stripe webhook payloads for tests, built with stripe's own signing helper."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import stripe

WEBHOOK_SECRET = "whsec_test_" + "s" * 24


def event(event_type: str, obj: dict[str, Any], event_id: str = "") -> bytes:
    body = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, timestamp=at if at is not None else int(time.time())
    )


def session_completed(purchase_id: str, session_id: str, intent_id: str) -> bytes:
    meta = {"purchase_id": purchase_id}
    return event(
        "checkout.session.completed",
        {
            "id": session_id,
            "object": "checkout.session",
            "client_reference_id": purchase_id,
            "payment_status": "paid",
            "payment_intent": intent_id,
            "metadata": meta,
        },
    )


def intent_succeeded(purchase_id: str, intent_id: str, amount: int) -> bytes:
    return event(
        "payment_intent.succeeded",
        {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "status": "succeeded",
            "metadata": {"purchase_id": purchase_id},
        },
    )


def charge_refunded(purchase_id: str, intent_id: str, amount: int, refunded: int) -> bytes:
    return event(
        "charge.refunded",
        {
            "id": f"ch_{uuid.uuid4().hex[:20]}",
            "object": "charge",
            "amount": amount,
            "amount_refunded": refunded,
            "refunded": refunded >= amount,
            "payment_intent": intent_id,
            "metadata": {"purchase_id": purchase_id},
        },
    )


def session_expired(purchase_id: str, session_id: str) -> bytes:
    return event(
        "checkout.session.expired",
        {
            "id": session_id,
            "object": "checkout.session",
            "client_reference_id": purchase_id,
            "payment_status": "unpaid",
            "metadata": {"purchase_id": purchase_id},
        },
    )


def dispute(event_type: str, dispute_id: str, intent_id: str, amount: int, status: str) -> bytes:
    """A `charge.dispute.*` event: the dispute object names the charge's PaymentIntent."""
    return event(
        event_type,
        {
            "id": dispute_id,
            "object": "dispute",
            "amount": amount,
            "charge": f"ch_{uuid.uuid4().hex[:20]}",
            "payment_intent": intent_id,
            "reason": "fraudulent",
            "status": status,
        },
    )
