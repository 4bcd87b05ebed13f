"""What things cost: credits per image, the AI surcharge and the packs for sale.

Read once at start-up from a TOML file (BILLING_PRICING_FILE, default the
`pricing.toml` beside this module) and validated, so a typo stops the service
instead of selling a pack for nothing.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from picopt.kernel.settings import Env, SettingsError

DEFAULT_PRICING_FILE = Path(__file__).parent / "pricing.toml"
_PACK_ID = re.compile(r"^[a-z0-9_-]{1,40}$")
_CURRENCY = re.compile(r"^[a-z]{3}$")


@dataclass(frozen=True)
class Pack:
    id: str
    name: str
    credits: int
    amount: int
    stripe_price: str = ""


@dataclass(frozen=True)
class Pricing:
    image: int = 1
    metadata: int = 1
    currency: str = "eur"
    packs: tuple[Pack, ...] = ()
    trial_expiry_days: int = 0

    def cost(self, with_metadata: bool, outputs: int) -> int:
        """Credits one job costs: every output is an optimized image, metadata is extra."""
        return self.image * max(outputs, 1) + (self.metadata if with_metadata else 0)

    def pack(self, pack_id: str) -> Pack | None:
        return next((p for p in self.packs if p.id == pack_id), None)


def load_pricing(path: Path = DEFAULT_PRICING_FILE) -> Pricing:
    """Parse and validate a pricing file; every problem names the offending key."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read pricing file {path}: {exc}") from exc
    return parse_pricing(raw, str(path))


def parse_pricing(raw: dict[str, Any], source: str = "pricing") -> Pricing:
    def whole(value: Any, name: str, minimum: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise SettingsError(f"{source}: {name} must be a whole number >= {minimum}")
        return value

    currency = raw.get("currency", "eur")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise SettingsError(f"{source}: currency must be a lower-case ISO code such as 'eur'")
    costs = raw.get("costs", {})
    trial = raw.get("trial", {})
    packs: list[Pack] = []
    for i, item in enumerate(raw.get("packs", [])):
        where = f"packs[{i}]"
        pack_id = item.get("id")
        if not isinstance(pack_id, str) or not _PACK_ID.match(pack_id):
            raise SettingsError(f"{source}: {where}.id must match [a-z0-9_-]{{1,40}}")
        if any(p.id == pack_id for p in packs):
            raise SettingsError(f"{source}: {where}.id {pack_id!r} is used twice")
        name = item.get("name", pack_id)
        price = item.get("stripe_price", "")
        if not isinstance(name, str) or not isinstance(price, str):
            raise SettingsError(f"{source}: {where}.name and stripe_price must be strings")
        packs.append(
            Pack(
                id=pack_id,
                name=name,
                credits=whole(item.get("credits"), f"{where}.credits", 1),
                amount=whole(item.get("amount"), f"{where}.amount", 1),
                stripe_price=price,
            )
        )
    return Pricing(
        image=whole(costs.get("image", 1), "costs.image", 0),
        metadata=whole(costs.get("metadata", 1), "costs.metadata", 0),
        currency=currency,
        packs=tuple(packs),
        trial_expiry_days=whole(trial.get("expires_after_days", 0), "trial.expires_after_days", 0),
    )


def pricing_from_env(env: Env) -> Pricing:
    """BILLING_PRICING_FILE (default: the bundled pricing.toml); BILLING_PRICE_IMAGE and
    BILLING_PRICE_METADATA, when set, override the file's costs."""
    pricing = load_pricing(Path(env.str("BILLING_PRICING_FILE", str(DEFAULT_PRICING_FILE))))
    image = env.int("BILLING_PRICE_IMAGE", pricing.image)
    metadata = env.int("BILLING_PRICE_METADATA", pricing.metadata)
    if image < 0 or metadata < 0:
        raise SettingsError("BILLING_PRICE_IMAGE and BILLING_PRICE_METADATA must be >= 0")
    return replace(pricing, image=image, metadata=metadata)
