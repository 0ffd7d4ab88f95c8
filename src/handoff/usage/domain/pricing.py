"""Usage pricing, pure: what a period's metered quantity costs on a contract's usage line.

Models (`PriceModel`):
- PER_UNIT: billable units x `unit_price`.
- GRADUATED: each unit priced by the tier it falls in (tier 1 prices units 1..up_to, tier 2 the
  next ones, ...); a tier's `flat_fee` is charged once when any unit falls in it.
- VOLUME: every unit priced at the tier the total reaches (plus that tier's `flat_fee`).
- PACKAGE: ceil(billable / `package_size`) packages x `unit_price` (the package price): a started
  package is billed whole (2,001 units in packages of 1,000 = 3 packages).
- PERCENTAGE: `percentage` % of the summed value (e.g. 2.9 % of payment volume).
Around every model: `free_units` come off the quantity before pricing (tiers count billable
units, after the free ones); `minimum` is a commitment per period: rated below it, a true-up
brings the period to it; `prepaid` credits (the balance the store keeps, passed in as
`credits_left`) are drawn down by the period's charge (usage + true-up), never below zero.
Zero billable units cost nothing (no tier flat fee), only a minimum's true-up.

Rounding (Decimal all through, never floats): tier amounts are exact (units x price + flat fee,
not rounded); each part of the result is rounded once to cents, half up (`kernel.money.round2`):
the usage charge (the exact sum of its tiers), the true-up (the minimum less the rounded charge),
the credits used (cents already, as the balance is). So the parts add up to the net due exactly.
`line_quantity` x `line_unit_price` gives the usage charge on an invoice line (EN 16931 BR-LIN-04
rounds quantity x price to cents): the exact price where one applies, the average price to six
decimals when that rounds back to the charge, else 1 x the charge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from handoff.kernel.money import ZERO, round2
from handoff.usage.domain.events import UsageError

ONE = Decimal(1)
HUNDRED = Decimal(100)
PRICE_PLACES = 6  # unit prices, quantities and percentages: six decimals (storage: Numeric(20, 6))
PRICE_STEP = Decimal(1).scaleb(-PRICE_PLACES)
MAX_TIERS = 50


class PriceModel(StrEnum):
    PER_UNIT = "per_unit"
    GRADUATED = "graduated"
    VOLUME = "volume"
    PACKAGE = "package"
    PERCENTAGE = "percentage"


MODEL_ALIASES = {
    "unit": PriceModel.PER_UNIT,
    "standard": PriceModel.PER_UNIT,
    "tiered": PriceModel.GRADUATED,
    "percent": PriceModel.PERCENTAGE,
}
TIERED = (PriceModel.GRADUATED, PriceModel.VOLUME)


@dataclass(frozen=True, slots=True)
class Tier:
    """Units up to `up_to` (inclusive, counted from the first billable unit; None: no end, the
    last tier) at `unit_price` each, plus `flat_fee` once when the tier is used."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class UsagePrice:
    """How a usage line is priced per period."""

    model: PriceModel
    unit_price: Decimal = ZERO  # PER_UNIT: per unit; PACKAGE: per package
    tiers: tuple[Tier, ...] = ()  # GRADUATED / VOLUME, ascending, the last without up_to
    package_size: Decimal = ONE  # PACKAGE: units per package
    percentage: Decimal = ZERO  # PERCENTAGE: percent of the summed value (2.9 = 2.9 %)
    free_units: Decimal = ZERO  # units free per period, taken off before pricing
    minimum: Decimal = ZERO  # minimum commitment per period (cents): true-up when rated below
    prepaid: Decimal = ZERO  # credits bought (cents): the store's opening balance


@dataclass(frozen=True, slots=True)
class RatedPart:
    """One step of the rating, for the invoice note and the API: "500 x 0.10" in tier 2."""

    label: str  # "tier 1 (up to 1000)", "per unit", "3 packages of 1000", "2.9 % of"
    units: Decimal
    unit_price: Decimal
    amount: Decimal  # exact: units x unit_price + flat_fee, not rounded
    flat_fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Rated:
    """A period's rating. `amount` + `true_up` - `credits_used` = `due`, each in cents."""

    quantity: Decimal  # as metered
    free: Decimal  # free units taken off
    billable: Decimal  # priced units
    amount: Decimal  # the usage charge, cents
    true_up: Decimal  # up to the minimum commitment, cents (0 when reached)
    credits_used: Decimal  # prepaid credits drawn down, cents
    credits_left: Decimal  # the balance after
    lines: tuple[RatedPart, ...]
    explanation: str
    line_quantity: Decimal  # the usage charge's invoice line: quantity ...
    line_unit_price: Decimal  # ... x price, rounded to cents, == amount

    @property
    def due(self) -> Decimal:
        """What the period adds to the invoice after credits."""
        return self.amount + self.true_up - self.credits_used


def _n(value: Decimal) -> str:
    """A number for an explanation: thousands separated, no trailing zeros, no exponent."""
    return f"{value.normalize():,f}"


def _graduated(tiers: tuple[Tier, ...], billable: Decimal) -> list[RatedPart]:
    parts: list[RatedPart] = []
    below = ZERO
    for i, tier in enumerate(tiers, start=1):
        if billable <= below:
            break
        top = billable if tier.up_to is None else min(billable, tier.up_to)
        units = top - below
        label = f"tier {i} ({_n(below)}-{_n(tier.up_to)})" if tier.up_to is not None else f"tier {i} (over {_n(below)})"
        parts.append(RatedPart(label, units, tier.unit_price, units * tier.unit_price + tier.flat_fee, tier.flat_fee))
        if tier.up_to is None:
            break
        below = tier.up_to
    return parts


def _volume(tiers: tuple[Tier, ...], billable: Decimal) -> list[RatedPart]:
    for i, tier in enumerate(tiers, start=1):
        if tier.up_to is None or billable <= tier.up_to:
            label = f"tier {i} (all units)"
            return [
                RatedPart(label, billable, tier.unit_price, billable * tier.unit_price + tier.flat_fee, tier.flat_fee)
            ]
    raise ValueError("volume tiers end with a tier without up_to")  # check_price guarantees it


def _parts(price: UsagePrice, billable: Decimal) -> list[RatedPart]:
    if billable <= 0:
        return []
    model = price.model
    if model is PriceModel.PER_UNIT:
        return [RatedPart("per unit", billable, price.unit_price, billable * price.unit_price)]
    if model is PriceModel.GRADUATED:
        return _graduated(price.tiers, billable)
    if model is PriceModel.VOLUME:
        return _volume(price.tiers, billable)
    if model is PriceModel.PACKAGE:
        packages = (billable / price.package_size).to_integral_value(rounding=ROUND_CEILING)
        label = f"packages of {_n(price.package_size)}"
        return [RatedPart(label, packages, price.unit_price, packages * price.unit_price)]
    rate_per_unit = price.percentage / HUNDRED
    return [RatedPart(f"{_n(price.percentage)} % of", billable, rate_per_unit, billable * rate_per_unit)]


def _invoice_line(
    price: UsagePrice, parts: list[RatedPart], billable: Decimal, amount: Decimal
) -> tuple[Decimal, Decimal]:
    """(quantity, unit price) whose product rounds to `amount`, as close to the real pricing as
    it can be (see the module docstring)."""
    if not parts:
        return ZERO, price.unit_price if price.model in (PriceModel.PER_UNIT, PriceModel.PACKAGE) else ZERO
    if len(parts) == 1 and not parts[0].flat_fee:
        part = parts[0]
        if part.unit_price == part.unit_price.quantize(PRICE_STEP) and round2(part.units * part.unit_price) == amount:
            return part.units, part.unit_price
    average = (amount / billable).quantize(PRICE_STEP, rounding=ROUND_HALF_UP)
    if round2(billable * average) == amount:
        return billable, average
    return ONE, amount


def rate(price: UsagePrice, quantity: Decimal, credits_left: Decimal = ZERO) -> Rated:
    """Rate one period's quantity at `price`, drawing down `credits_left` (the prepaid balance
    before this period). A negative quantity (reversals ahead of their targets) bills nothing."""
    free = min(max(quantity, ZERO), price.free_units)
    billable = max(quantity - price.free_units, ZERO)
    parts = _parts(price, billable)
    amount = round2(sum((p.amount for p in parts), ZERO))
    true_up = max(round2(price.minimum) - amount, ZERO)
    balance = max(round2(credits_left), ZERO)
    credits_used = min(balance, amount + true_up)
    line_quantity, line_unit_price = _invoice_line(price, parts, billable, amount)
    steps = [f"{_n(quantity)} metered"]
    if free:
        steps.append(f"{_n(free)} free")
    for p in parts:
        fee = f" + {_n(p.flat_fee)} flat" if p.flat_fee else ""
        steps.append(f"{p.label}: {_n(p.units)} x {_n(p.unit_price)}{fee} = {_n(p.amount)}")
    steps.append(f"charge {amount:,.2f}")
    if true_up:
        steps.append(f"minimum {round2(price.minimum):,.2f}: true-up {true_up:,.2f}")
    if credits_used:
        steps.append(f"prepaid credits used {credits_used:,.2f}, {balance - credits_used:,.2f} left")
    return Rated(
        quantity=quantity,
        free=free,
        billable=billable,
        amount=amount,
        true_up=true_up,
        credits_used=credits_used,
        credits_left=balance - credits_used,
        lines=tuple(parts),
        explanation="; ".join(steps),
        line_quantity=line_quantity,
        line_unit_price=line_unit_price,
    )


# ---- checks and configuration (JSON) -----------------------------------------------------------


def _number(record: str, field: str, value: object, *, places: int = PRICE_PLACES, positive: bool = False) -> Decimal:
    """A non-negative Decimal from configuration (text, integer, Decimal; a float by its shortest
    text, as YAML gives 0.10) with at most `places` decimals."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
        raise UsageError(record, field, f"is not a number ({value!r})")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise UsageError(record, field, f"is not a number ({value!r})") from None
    if not number.is_finite():
        raise UsageError(record, field, f"is not a finite number ({value!r})")
    if number < 0 or (positive and number == 0):
        raise UsageError(record, field, f"must be {'above' if positive else 'at least'} zero ({value!r})")
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise UsageError(record, field, f"has more than {places} decimals ({value!r})")
    if number >= Decimal("1e14"):
        raise UsageError(record, field, f"is too large ({value!r})")
    return number + 0


def check_price(price: UsagePrice, record: str = "usage price") -> None:
    """Refuse a price that cannot rate: tiers on a model without them (or missing), tiers not
    ascending or not ending open, a package size of zero, a percentage above 100, negatives."""
    for name in ("unit_price", "package_size", "percentage", "free_units"):
        _number(record, name, getattr(price, name), positive=name == "package_size")
    for name in ("minimum", "prepaid"):
        _number(record, name, getattr(price, name), places=2)
    if price.percentage > HUNDRED:
        raise UsageError(record, "percentage", f"is above 100 ({price.percentage})")
    if price.model in TIERED:
        if not price.tiers:
            raise UsageError(record, "tiers", f"are missing (a {price.model.value} price needs them)")
        if len(price.tiers) > MAX_TIERS:
            raise UsageError(record, "tiers", f"are more than {MAX_TIERS}")
        below = ZERO
        for i, tier in enumerate(price.tiers, start=1):
            where = f"tiers[{i}]"
            _number(record, f"{where}.unit_price", tier.unit_price)
            _number(record, f"{where}.flat_fee", tier.flat_fee, places=2)
            last = i == len(price.tiers)
            if tier.up_to is None:
                if not last:
                    raise UsageError(record, f"{where}.up_to", "is missing (only the last tier is open-ended)")
                continue
            _number(record, f"{where}.up_to", tier.up_to, positive=True)
            if tier.up_to <= below:
                raise UsageError(record, f"{where}.up_to", f"must be above the tier before ({_n(below)})")
            if last:
                raise UsageError(record, f"{where}.up_to", "must be empty: the last tier takes every unit above")
            below = tier.up_to
    elif price.tiers:
        raise UsageError(record, "tiers", f"are not used by a {price.model.value} price")
    if price.model is PriceModel.PERCENTAGE and price.unit_price:
        raise UsageError(record, "unit_price", "is not used by a percentage price (give percentage)")


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def price_to_json(price: UsagePrice) -> dict[str, Any]:
    """The price as stored (`usage_prices.price`) and shown by the API: Decimals as strings."""
    return {
        "model": price.model.value,
        "unit_price": str(price.unit_price),
        "tiers": [
            {"up_to": _opt(t.up_to), "unit_price": str(t.unit_price), "flat_fee": str(t.flat_fee)} for t in price.tiers
        ],
        "package_size": str(price.package_size),
        "percentage": str(price.percentage),
        "free_units": str(price.free_units),
        "minimum": str(price.minimum),
        "prepaid": str(price.prepaid),
    }


PRICE_FIELDS = frozenset(
    {"model", "unit_price", "tiers", "package_size", "percentage", "free_units", "minimum", "prepaid"}
)
TIER_FIELDS = frozenset({"up_to", "unit_price", "flat_fee"})


def price_from_json(doc: Mapping[str, Any], record: str = "usage price") -> UsagePrice:
    """A price from the API or a file; every refusal is a UsageError naming the field."""
    if not isinstance(doc, Mapping):
        raise UsageError(record, "", "must be an object")
    unknown = sorted(set(doc) - PRICE_FIELDS)
    if unknown:
        raise UsageError(record, str(unknown[0]), "is not a price field")
    raw_model = doc.get("model")
    if not isinstance(raw_model, str):
        raise UsageError(record, "model", "is missing (per_unit, graduated, volume, package or percentage)")
    key = raw_model.strip().lower().replace("-", "_").replace(" ", "_")
    model = MODEL_ALIASES.get(key) or next((m for m in PriceModel if m.value == key), None)
    if model is None:
        raise UsageError(record, "model", f"must be per_unit, graduated, volume, package or percentage ({raw_model!r})")

    def num(name: str, default: Decimal, places: int = PRICE_PLACES) -> Decimal:
        value = doc.get(name)
        return default if value is None or value == "" else _number(record, name, value, places=places)

    raw_tiers = doc.get("tiers") or []
    if not isinstance(raw_tiers, list | tuple):
        raise UsageError(record, "tiers", "must be a list")
    tiers: list[Tier] = []
    for i, raw in enumerate(raw_tiers, start=1):
        where = f"tiers[{i}]"
        if not isinstance(raw, Mapping):
            raise UsageError(record, where, "must be an object (up_to, unit_price, flat_fee)")
        extra = sorted(set(raw) - TIER_FIELDS)
        if extra:
            raise UsageError(record, f"{where}.{extra[0]}", "is not a tier field")
        up_to = raw.get("up_to")
        if raw.get("unit_price") is None:
            raise UsageError(record, f"{where}.unit_price", "is missing")
        tiers.append(
            Tier(
                up_to=None if up_to is None or up_to == "" else _number(record, f"{where}.up_to", up_to),
                unit_price=_number(record, f"{where}.unit_price", raw["unit_price"]),
                flat_fee=_number(record, f"{where}.flat_fee", raw.get("flat_fee") or 0, places=2),
            )
        )
    price = UsagePrice(
        model=model,
        unit_price=num("unit_price", ZERO),
        tiers=tuple(tiers),
        package_size=num("package_size", ONE),
        percentage=num("percentage", ZERO),
        free_units=num("free_units", ZERO),
        minimum=num("minimum", ZERO, 2),
        prepaid=num("prepaid", ZERO, 2),
    )
    check_price(price, record)
    return price


def per_unit(unit_price: Decimal) -> UsagePrice:
    """The default price of a usage line: its `unit_price` per unit."""
    return UsagePrice(PriceModel.PER_UNIT, unit_price=unit_price)
