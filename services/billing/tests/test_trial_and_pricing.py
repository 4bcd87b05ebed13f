"""Trial credits once per verified email; the pricing file is validated at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from picopt.kernel.settings import Env, SettingsError
from services.billing.events import claim_trial
from services.billing.ledger import Ledger
from services.billing.pricing import (
    DEFAULT_PRICING_FILE,
    load_pricing,
    parse_pricing,
    pricing_from_env,
)
from services.billing.stripe_api import StripeApi, StripeConfig
from services.billing.tests.conftest import new_user


def test_trial_is_granted_once_per_email_digest(ledger: Ledger) -> None:
    first, second = new_user(), new_user()
    with ledger.db.session() as s:
        assert claim_trial(ledger, s, first, "digest-a", 20)
    with ledger.db.session() as s:
        assert not claim_trial(ledger, s, first, "digest-a", 20)  # redelivery
    with ledger.db.session() as s:
        assert not claim_trial(ledger, s, second, "digest-a", 20)  # same email, new account
    with ledger.db.session() as s:
        assert claim_trial(ledger, s, second, "digest-b", 20)
    assert ledger.balance(first).granted == 20
    assert ledger.balance(second).granted == 20
    assert [e.kind for e in ledger.entries(first)] == ["grant"]


def test_a_claim_made_under_an_old_secret_still_counts_after_a_rotation(ledger: Ledger) -> None:
    """AUTH_SECRET rotated: account.confirmed carries the digest under the old secret too."""
    first, second = new_user(), new_user()
    with ledger.db.session() as s:
        assert claim_trial(ledger, s, first, "digest-under-old", 20)
    with ledger.db.session() as s:
        assert not claim_trial(ledger, s, second, "digest-under-new", 20, ["digest-under-old"])
    assert ledger.balance(second).granted == 0


def test_default_pricing_file_sells_three_packs() -> None:
    pricing = load_pricing(DEFAULT_PRICING_FILE)
    assert [(p.id, p.credits) for p in pricing.packs] == [
        ("pack_100", 100),
        ("pack_500", 500),
        ("pack_2000", 2000),
    ]
    assert pricing.cost(with_metadata=True, outputs=3) == 4
    assert pricing.cost(with_metadata=False, outputs=0) == 1


def test_env_overrides_costs_and_points_at_another_file(tmp_path: Path) -> None:
    custom = tmp_path / "prices.toml"
    custom.write_text(
        'currency = "usd"\n[costs]\nimage = 2\n[[packs]]\nid="p1"\ncredits=10\namount=99\n'
    )
    pricing = pricing_from_env(
        Env({"BILLING_PRICING_FILE": str(custom), "BILLING_PRICE_METADATA": "5"})
    )
    assert (pricing.currency, pricing.image, pricing.metadata) == ("usd", 2, 5)
    assert pricing.pack("p1") is not None and pricing.pack("p1").amount == 99  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"currency": "EURO"}, "currency"),
        ({"costs": {"image": -1}}, "costs.image"),
        ({"packs": [{"id": "Bad Id", "credits": 1, "amount": 1}]}, r"packs\[0\].id"),
        ({"packs": [{"id": "a", "credits": 0, "amount": 1}]}, r"packs\[0\].credits"),
        ({"packs": [{"id": "a", "credits": 1, "amount": 1.5}]}, r"packs\[0\].amount"),
        (
            {
                "packs": [
                    {"id": "a", "credits": 1, "amount": 1},
                    {"id": "a", "credits": 2, "amount": 2},
                ]
            },
            "used twice",
        ),
    ],
)
def test_bad_pricing_is_refused_with_the_key_named(raw: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_pricing(raw)


def test_unreadable_pricing_file_is_a_settings_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("currency = ")
    with pytest.raises(SettingsError, match="cannot read pricing file"):
        load_pricing(broken)
    with pytest.raises(SettingsError):
        load_pricing(tmp_path / "missing.toml")


def test_stripe_settings_are_validated_and_default_to_checkout() -> None:
    config = StripeConfig.from_env(Env({"PUBLIC_URL": "https://pics.example/"}))
    assert (config.mode, config.tolerance_s, config.api_key) == ("checkout", 300, "")
    assert config.success_url == "https://pics.example/v1/billing/purchases"
    assert not StripeApi(config).configured
    with pytest.raises(SettingsError, match="BILLING_PURCHASE_MODE"):
        StripeConfig.from_env(Env({"BILLING_PURCHASE_MODE": "invoice"}))


STRIPE_PROBE = """
import sys
from picopt.kernel.settings import Env
from services.billing.stripe_api import StripeApi, StripeConfig
import services.billing.__main__
StripeApi(StripeConfig.from_env(Env(dict(arg.split("=", 1) for arg in sys.argv[1:]))))
print("stripe" in sys.modules)
"""


@pytest.mark.parametrize(("settings", "loaded"), [([], "False"), (["STRIPE_API_KEY=sk"], "True")])
def test_the_stripe_library_is_loaded_only_where_payments_are_configured(
    settings: list[str], loaded: str
) -> None:
    """13 MB resident a one-machine billing without payments does not carry."""
    probe = subprocess.run(
        [sys.executable, "-c", STRIPE_PROBE, *settings],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert probe.stdout.strip().splitlines()[-1] == loaded
