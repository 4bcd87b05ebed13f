"""The only module that talks to Stripe: configuration, requests and signature checks.

Card data never reaches us: a Checkout Session sends the buyer to Stripe's
hosted page, a PaymentIntent's client secret feeds Stripe's own payment
element in the browser. We send and keep ids only.

The stripe library (13 MB resident) is imported where it is used, so a billing service
without payments configured never loads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from picopt.kernel.errors import FailedPrecondition, InvalidArgument, Unavailable
from picopt.kernel.logs import get_logger
from picopt.kernel.settings import Env, SettingsError
from services.billing.pricing import Pack

if TYPE_CHECKING:
    import stripe

log = get_logger(__name__)

MODES = ("checkout", "payment_intent")


@dataclass(frozen=True)
class StripeConfig:
    api_key: str
    webhook_secret: str
    api_base: str
    mode: str
    success_url: str
    cancel_url: str
    tolerance_s: int

    @classmethod
    def from_env(cls, env: Env) -> StripeConfig:
        mode = env.str("BILLING_PURCHASE_MODE", "checkout")
        if mode not in MODES:
            raise SettingsError(f"BILLING_PURCHASE_MODE must be one of {MODES}, got {mode!r}")
        # Without a web front end of its own, the service sends buyers back to the API's
        # purchase list (readable with the session cookie); set both to your own pages.
        public = env.str("PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/")
        return cls(
            api_key=env.str("STRIPE_API_KEY"),
            webhook_secret=env.str("STRIPE_WEBHOOK_SECRET"),
            api_base=env.str("STRIPE_API_BASE"),
            mode=mode,
            success_url=env.str("BILLING_SUCCESS_URL", f"{public}/v1/billing/purchases"),
            cancel_url=env.str("BILLING_CANCEL_URL", f"{public}/v1/billing/packs"),
            tolerance_s=env.int("STRIPE_WEBHOOK_TOLERANCE", 300),
        )


@dataclass(frozen=True)
class StartedPayment:
    """What the buyer's browser needs next, plus the ids we keep."""

    checkout_session_id: str = ""
    checkout_url: str = ""
    payment_intent_id: str = ""
    client_secret: str = ""


class StripeApi:
    def __init__(self, config: StripeConfig) -> None:
        self.config = config
        self._client: stripe.StripeClient | None = None
        if config.api_key:
            import stripe

            self._client = stripe.StripeClient(
                config.api_key,
                base_addresses={"api": config.api_base} if config.api_base else None,
                max_network_retries=2,
            )

    @property
    def configured(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            raise FailedPrecondition(
                "payments are not configured on this server (STRIPE_API_KEY is unset)",
                code="payments_not_configured",
            )
        return self._client

    # -- outgoing requests -----------------------------------------------

    def create_customer(self, user_id: str) -> str:
        with _stripe_errors("create_customer"):
            customer = self.client.v1.customers.create(
                params={"metadata": {"user_id": user_id}},
                options={"idempotency_key": f"customer-{user_id}"},
            )
        return str(customer.id)

    def delete_customer(self, customer_id: str) -> None:
        """Delete a customer (and the email Stripe holds) at Stripe; already gone counts as done.

        Raises Unavailable while Stripe cannot be reached, so an erasure waits and retries.
        """
        import stripe

        try:
            self.client.v1.customers.delete(customer_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise _unavailable("delete_customer", exc) from exc
            log.info("stripe_customer_already_gone", customer_id=customer_id)
        except stripe.StripeError as exc:
            raise _unavailable("delete_customer", exc) from exc

    def scrub_payment(self, payment_intent_id: str, checkout_session_id: str) -> None:
        """Remove `metadata.user_id` from a purchase's objects at Stripe (an erasure).

        The PaymentIntent must be scrubbed: Unavailable while Stripe cannot be reached
        or refuses, so the erasure waits and retries. A Checkout Session is scrubbed
        where Stripe allows it (it refuses updates of some finished sessions, which
        expire at Stripe's end); the PaymentIntent it created is scrubbed either way.
        """
        import stripe

        scrubbed = {"metadata": {"user_id": ""}}
        if payment_intent_id:
            try:
                self.client.v1.payment_intents.update(payment_intent_id, params=cast(Any, scrubbed))
            except stripe.InvalidRequestError as exc:
                if exc.http_status != 404:
                    raise _unavailable("scrub_payment_intent", exc) from exc
                log.info("stripe_payment_intent_already_gone", payment_intent_id=payment_intent_id)
            except stripe.StripeError as exc:
                raise _unavailable("scrub_payment_intent", exc) from exc
        if checkout_session_id:
            try:
                self.client.v1.checkout.sessions.update(
                    checkout_session_id, params=cast(Any, scrubbed)
                )
            except stripe.InvalidRequestError as exc:
                log.info(
                    "stripe_checkout_session_not_scrubbed",
                    checkout_session_id=checkout_session_id,
                    http_status=exc.http_status,
                )
            except stripe.StripeError as exc:
                raise _unavailable("scrub_checkout_session", exc) from exc

    def start_checkout(
        self, purchase_id: str, user_id: str, customer_id: str, pack: Pack, currency: str
    ) -> StartedPayment:
        """A hosted Checkout Session for one pack; its PaymentIntent carries our metadata too."""
        metadata = {"purchase_id": purchase_id, "user_id": user_id, "pack_id": pack.id}
        if pack.stripe_price:
            line_item: dict[str, Any] = {"price": pack.stripe_price, "quantity": 1}
        else:
            line_item = {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": pack.amount,
                    "product_data": {"name": pack.name},
                },
            }
        with _stripe_errors("create_checkout_session"):
            session = self.client.v1.checkout.sessions.create(
                params=cast(
                    Any,
                    {
                        "mode": "payment",
                        "customer": customer_id,
                        "client_reference_id": purchase_id,
                        "line_items": [line_item],
                        "metadata": metadata,
                        "payment_intent_data": {"metadata": metadata},
                        "success_url": self.config.success_url,
                        "cancel_url": self.config.cancel_url,
                    },
                ),
                options={"idempotency_key": f"purchase-{purchase_id}"},
            )
        return StartedPayment(checkout_session_id=str(session.id), checkout_url=str(session.url))

    def start_payment_intent(
        self, purchase_id: str, user_id: str, customer_id: str, pack: Pack, currency: str
    ) -> StartedPayment:
        metadata = {"purchase_id": purchase_id, "user_id": user_id, "pack_id": pack.id}
        with _stripe_errors("create_payment_intent"):
            intent = self.client.v1.payment_intents.create(
                params={
                    "amount": pack.amount,
                    "currency": currency,
                    "customer": customer_id,
                    "metadata": metadata,
                },
                options={"idempotency_key": f"purchase-{purchase_id}"},
            )
        return StartedPayment(
            payment_intent_id=str(intent.id), client_secret=str(intent.client_secret)
        )

    def resume(self, checkout_session_id: str, payment_intent_id: str) -> StartedPayment:
        """Answer a repeated checkout request from Stripe's copy (we keep no secrets)."""
        if checkout_session_id:
            with _stripe_errors("retrieve_checkout_session"):
                session = self.client.v1.checkout.sessions.retrieve(checkout_session_id)
            return StartedPayment(
                checkout_session_id=checkout_session_id, checkout_url=str(session.url or "")
            )
        with _stripe_errors("retrieve_payment_intent"):
            intent = self.client.v1.payment_intents.retrieve(payment_intent_id)
        return StartedPayment(
            payment_intent_id=payment_intent_id, client_secret=str(intent.client_secret)
        )

    def payment_intent_metadata(self, payment_intent_id: str) -> dict[str, str]:
        with _stripe_errors("retrieve_payment_intent"):
            intent = self.client.v1.payment_intents.retrieve(payment_intent_id)
        return {str(k): str(v) for k, v in (intent.to_dict().get("metadata") or {}).items()}

    def payment_state(self, payment_intent_id: str) -> tuple[str, int, int]:
        """(status, amount received, amount refunded) of a PaymentIntent, for reconciliation."""
        with _stripe_errors("retrieve_payment_intent"):
            intent = self.client.v1.payment_intents.retrieve(payment_intent_id).to_dict()
            refunded = 0
            charge_id = intent.get("latest_charge")
            if isinstance(charge_id, dict):
                charge_id = charge_id.get("id")
            if charge_id:
                charge = self.client.v1.charges.retrieve(str(charge_id)).to_dict()
                refunded = int(charge.get("amount_refunded") or 0)
        status = str(intent["status"])
        received = intent.get("amount_received")
        if received is None and status == "succeeded":  # older API versions and test doubles
            received = intent.get("amount")
        return status, int(received or 0), refunded

    def payment_intents(self) -> Iterator[dict[str, Any]]:
        """Every PaymentIntent of the account that one of our purchases created."""
        with _stripe_errors("list_payment_intents"):
            page = self.client.v1.payment_intents.list(params={"limit": 100})
            for intent in page.auto_paging_iter():
                found = intent.to_dict()
                if (found.get("metadata") or {}).get("purchase_id"):
                    yield found

    # -- incoming webhooks -----------------------------------------------

    def verify(self, payload: bytes, signature: str) -> dict[str, Any]:
        """The event if the signature is ours and fresh; InvalidArgument (HTTP 400) otherwise."""
        if not self.config.webhook_secret:
            raise FailedPrecondition(
                "webhooks are not configured on this server (STRIPE_WEBHOOK_SECRET is unset)",
                code="payments_not_configured",
            )
        import stripe

        try:
            stripe.WebhookSignature.verify_header(
                payload, signature, self.config.webhook_secret, self.config.tolerance_s
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidArgument(
                f"bad Stripe signature: {exc.user_message or exc}", code="invalid_signature"
            ) from exc
        try:
            event = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidArgument("webhook body is not JSON", code="invalid_payload") from exc
        if not (
            isinstance(event, dict)
            and isinstance(event.get("id"), str)
            and isinstance(event.get("type"), str)
            and isinstance((event.get("data") or {}).get("object"), dict)
        ):
            raise InvalidArgument("webhook body is not a Stripe event", code="invalid_payload")
        return event


@contextmanager
def _stripe_errors(operation: str) -> Iterator[None]:
    """Stripe failures become Unavailable (HTTP 503): the buyer can retry, nothing was stored."""
    import stripe

    try:
        yield
    except stripe.StripeError as exc:
        raise _unavailable(operation, exc) from exc


def _unavailable(operation: str, exc: stripe.StripeError) -> Unavailable:
    log.warning(
        "stripe_request_failed",
        operation=operation,
        error=type(exc).__name__,
        http_status=exc.http_status,
        stripe_code=exc.code,
    )
    return Unavailable(
        f"the payment provider failed ({type(exc).__name__}); try again",
        code="payment_provider_failed",
    )
