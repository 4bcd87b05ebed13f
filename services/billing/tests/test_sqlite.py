"""The one-machine default: billing's migrations and main paths on a SQLite file."""

from __future__ import annotations

import uuid
from pathlib import Path

from picopt.kernel.db import Database
from services.billing.events import claim_trial
from services.billing.ledger import Ledger
from services.billing.purchases import Purchases
from services.billing.stripe_api import StripeApi
from services.billing.tests import stripe_fixtures as sf
from services.billing.tests.conftest import MIGRATIONS, PRICING
from services.billing.tests.test_webhooks import config, pending_purchase
from services.billing.usage import Usage
from services.billing.webhooks import StripeWebhooks


def test_trial_jobs_purchase_usage_and_expiry_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'billing.db'}", "billing")
    try:
        db.migrate(MIGRATIONS)
        ledger, user = Ledger(db, PRICING), str(uuid.uuid4())
        with db.session() as s:
            assert claim_trial(ledger, s, user, "digest", 20)
        job = str(uuid.uuid4())
        assert ledger.reserve(job, user, with_metadata=True, outputs=2) == (4, 16)
        with db.session() as s:
            ledger.capture(s, job)
        api = StripeApi(config())
        hooks = StripeWebhooks(Purchases(ledger, api), api)
        purchase = pending_purchase(db, user)
        payload = sf.intent_succeeded(purchase.id, "pi_sqlite", 500)
        assert hooks.handle(payload, sf.sign(payload)).outcome == "granted"
        assert hooks.handle(payload, sf.sign(payload)).outcome == "duplicate"
        balance = ledger.balance(user)
        assert (balance.granted, balance.purchased) == (16, 100)
        (item,), _ = Usage(db).page(user, "job")
        assert (item.job_id, item.credits) == (job, 4)
        (day,), _ = Usage(db).page(user, "day")
        assert (day.credits, day.jobs) == (4, 1)
        assert ledger.expire_grants() == 0
    finally:
        db.dispose()
