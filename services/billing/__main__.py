"""Run the billing service: `python -m services.billing`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from picopt.auth.v1 import auth_pb2_grpc
from picopt.billing.v1 import billing_pb2, billing_pb2_grpc
from picopt.kernel.mailer import Mailer
from picopt.kernel.messaging import Outbox
from picopt.kernel.protos import service_name
from picopt.kernel.runtime import ServiceApp
from picopt.kernel.staff import staff_token
from services.billing.events import subscriptions
from services.billing.grpc_api import BillingServicer
from services.billing.ledger import Ledger
from services.billing.pricing import pricing_from_env
from services.billing.privacy import BillingPrivacy
from services.billing.purchases import Purchases
from services.billing.receipts import Receipts, email_from_auth
from services.billing.stripe_api import StripeApi, StripeConfig
from services.billing.webhooks import StripeWebhooks

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    app = ServiceApp("billing")
    env = app.settings.env
    db = app.database(MIGRATIONS)
    ledger = Ledger(db, pricing_from_env(env))
    stripe_api = StripeApi(StripeConfig.from_env(env))
    purchases = Purchases(ledger, stripe_api)
    auth = auth_pb2_grpc.AuthServiceStub(app.channel("auth"))
    receipts = Receipts(db, Mailer.from_settings(app.settings), email_from_auth(auth))
    webhooks = StripeWebhooks(purchases, stripe_api, on_paid=receipts.send_soon)
    server = app.grpc_server()
    server.add(
        billing_pb2_grpc.add_BillingServiceServicer_to_server,
        BillingServicer(ledger, purchases, webhooks, staff_token(app.settings, "billing")),
        [service_name(billing_pb2.DESCRIPTOR, "BillingService")],
    )
    app.consume(subscriptions(ledger, env.int("BILLING_TRIAL_CREDITS", 20)), db=db)
    timeout = timedelta(seconds=env.int("BILLING_RESERVATION_TIMEOUT", 24 * 3600))
    app.every("release_stale_reservations", 60.0, lambda: ledger.release_stale(timeout))
    app.every("expire_granted_credits", 300.0, ledger.expire_grants)
    app.every("send_due_receipts", 60.0, receipts.send_due)
    app.every("expire_stale_purchases", 3600.0, lambda: purchases.expire_stale(timeout))
    privacy = BillingPrivacy(db, Outbox("billing"), stripe_api)
    privacy.participant.register(server)
    app.consume(privacy.participant.subscriptions(), db=db)
    app.outbox_relay(db)
    app.run()


if __name__ == "__main__":
    main()
