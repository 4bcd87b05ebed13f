"""Run the billing service: `python -m services.billing`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from picopt.billing.v1 import billing_pb2, billing_pb2_grpc
from picopt.kernel.protos import service_name
from picopt.kernel.runtime import ServiceApp
from services.billing.events import subscriptions
from services.billing.grpc_api import BillingServicer
from services.billing.ledger import Ledger, Pricing

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    app = ServiceApp("billing")
    env = app.settings.env
    db = app.database(MIGRATIONS)
    ledger = Ledger(
        db,
        Pricing(
            image=env.int("BILLING_PRICE_IMAGE", 1), metadata=env.int("BILLING_PRICE_METADATA", 1)
        ),
    )
    app.grpc_server().add(
        billing_pb2_grpc.add_BillingServiceServicer_to_server,
        BillingServicer(ledger),
        [service_name(billing_pb2.DESCRIPTOR, "BillingService")],
    )
    app.consume(subscriptions(ledger, env.int("BILLING_TRIAL_CREDITS", 20)), db=db)
    timeout = timedelta(seconds=env.int("BILLING_RESERVATION_TIMEOUT", 24 * 3600))
    app.every("release_stale_reservations", 60.0, lambda: ledger.release_stale(timeout))
    app.run()


if __name__ == "__main__":
    main()
