"""Each pricing model against hand-computed amounts (the arithmetic is in the comments)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from handoff.kernel.money import round2
from handoff.usage.domain.events import UsageError
from handoff.usage.domain.pricing import (
    PriceModel,
    Tier,
    UsagePrice,
    check_price,
    per_unit,
    price_from_json,
    price_to_json,
    rate,
)

D = Decimal
TIERS = (Tier(D(1000), D("0.10")), Tier(D(10000), D("0.08")), Tier(None, D("0.05")))


def test_per_unit() -> None:
    # 12,345 calls x 0.0125 = 154.3125 -> 154.31 (half up: the 5th decimal does not matter)
    rated = rate(per_unit(D("0.0125")), D(12345))
    assert rated.amount == D("154.31")
    assert (rated.line_quantity, rated.line_unit_price) == (D(12345), D("0.0125"))
    assert round2(rated.line_quantity * rated.line_unit_price) == rated.amount
    assert rated.due == D("154.31") and rated.true_up == 0 and rated.credits_used == 0
    # 3 x 0.005 = 0.015 -> 0.02 (half up, not to even)
    assert rate(per_unit(D("0.005")), D(3)).amount == D("0.02")


def test_graduated_prices_each_unit_by_its_tier() -> None:
    # 12,500 units: 1,000 x 0.10 = 100.00; 9,000 x 0.08 = 720.00; 2,500 x 0.05 = 125.00 -> 945.00
    rated = rate(UsagePrice(PriceModel.GRADUATED, tiers=TIERS), D(12500))
    assert [(p.units, p.amount) for p in rated.lines] == [
        (D(1000), D("100.00")),
        (D(9000), D("720.00")),
        (D(2500), D("125.00")),
    ]
    assert rated.amount == D("945.00")
    # one invoice line: 12,500 x 0.0756 (945 / 12,500) = 945.00
    assert (rated.line_quantity, rated.line_unit_price) == (D(12500), D("0.0756"))
    # exactly at a boundary: 1,000 x 0.10 = 100.00, nothing in tier 2
    assert rate(UsagePrice(PriceModel.GRADUATED, tiers=TIERS), D(1000)).amount == D("100.00")
    # a fraction over it: 1,000 x 0.10 + 0.5 x 0.08 = 100.04
    assert rate(UsagePrice(PriceModel.GRADUATED, tiers=TIERS), D("1000.5")).amount == D("100.04")


def test_graduated_tier_sums_are_exact_and_rounded_once() -> None:
    # tiers 0.0015 (first 3 units) and 0.0035: 3 x 0.0015 = 0.0045; 3 x 0.0035 = 0.0105;
    # exact sum 0.015 -> 0.02 (rounding each tier first would give 0.00 + 0.01 = 0.01)
    price = UsagePrice(PriceModel.GRADUATED, tiers=(Tier(D(3), D("0.0015")), Tier(None, D("0.0035"))))
    rated = rate(price, D(6))
    assert [p.amount for p in rated.lines] == [D("0.0045"), D("0.0105")]
    assert rated.amount == D("0.02")
    # invoice line: 0.02 / 6 = 0.003333 (6 decimals); 6 x 0.003333 = 0.019998 -> 0.02
    assert (rated.line_quantity, rated.line_unit_price) == (D(6), D("0.003333"))
    # and when no average rounds back (7 units at 0.01 with a 0.05 flat fee = 0.12; 0.12 / 7 = 0.017143,
    # 7 x 0.017143 = 0.120001 -> 0.12 rounds back; 1 unit at 0.001 + 0.01 flat = 0.011 -> 0.01 (1 x 0.01))
    flat = rate(UsagePrice(PriceModel.GRADUATED, tiers=(Tier(None, D("0.001"), D("0.01")),)), D(1))
    assert (flat.amount, flat.line_quantity, flat.line_unit_price) == (D("0.01"), D(1), D("0.010000"))


def test_invoice_line_falls_back_to_one_times_the_charge() -> None:
    # 1,000 x 0.10 = 100; 2,999,001 x 0.0007 = 2,099.3007; exact 2,199.3007 -> 2,199.30.
    # average 2,199.30 / 3,000,001 = 0.000733 (6 decimals); 3,000,001 x 0.000733 = 2,199.000733 -> 2,199.00:
    # no average rounds back, so the line is 1 x 2,199.30
    price = UsagePrice(PriceModel.GRADUATED, tiers=(Tier(D(1000), D("0.10")), Tier(None, D("0.0007"))))
    rated = rate(price, D(3000001))
    assert (rated.amount, rated.line_quantity, rated.line_unit_price) == (D("2199.30"), D(1), D("2199.30"))


def test_graduated_flat_fees_once_per_tier_used() -> None:
    # 1,500 units: tier 1 1,000 x 0 + 20.00 flat = 20.00; tier 2 500 x 0.05 + 5.00 flat = 30.00 -> 50.00
    price = UsagePrice(PriceModel.GRADUATED, tiers=(Tier(D(1000), D(0), D(20)), Tier(None, D("0.05"), D(5))))
    assert rate(price, D(1500)).amount == D("50.00")
    # 10 units: only tier 1: 20.00
    assert rate(price, D(10)).amount == D("20.00")
    # nothing used: no flat fee
    assert rate(price, D(0)).amount == D("0.00")


def test_volume_prices_all_units_at_the_tier_reached() -> None:
    price = UsagePrice(PriceModel.VOLUME, tiers=TIERS)
    # 12,500 reaches tier 3: 12,500 x 0.05 = 625.00
    assert rate(price, D(12500)).amount == D("625.00")
    # 10,000 is still tier 2 (up_to inclusive): 10,000 x 0.08 = 800.00
    assert rate(price, D(10000)).amount == D("800.00")
    # 999: tier 1: 999 x 0.10 = 99.90
    rated = rate(price, D(999))
    assert rated.amount == D("99.90")
    assert (rated.line_quantity, rated.line_unit_price) == (D(999), D("0.10"))


def test_package_rounds_partial_packages_up() -> None:
    price = UsagePrice(PriceModel.PACKAGE, unit_price=D("15.00"), package_size=D(1000))
    # 2,001 units: ceil(2,001 / 1,000) = 3 packages x 15.00 = 45.00
    rated = rate(price, D(2001))
    assert rated.amount == D("45.00")
    assert (rated.line_quantity, rated.line_unit_price) == (D(3), D("15.00"))
    # 2,000 units: exactly 2 packages = 30.00
    assert rate(price, D(2000)).amount == D("30.00")
    # 1 unit: 1 package = 15.00; 0 units: nothing
    assert rate(price, D(1)).amount == D("15.00")
    assert rate(price, D(0)).amount == D("0.00")


def test_percentage_of_the_summed_value() -> None:
    price = UsagePrice(PriceModel.PERCENTAGE, percentage=D("2.9"))
    # 12,345.67 x 2.9 % = 358.02443 -> 358.02
    rated = rate(price, D("12345.67"))
    assert rated.amount == D("358.02")
    assert (rated.line_quantity, rated.line_unit_price) == (D("12345.67"), D("0.029"))
    # 50.00 x 2.9 % = 1.45 exactly
    assert rate(price, D(50)).amount == D("1.45")
    # 0.50 x 2.9 % = 0.0145 -> 0.01
    assert rate(price, D("0.5")).amount == D("0.01")


def test_free_allowance_comes_off_before_tiers() -> None:
    price = UsagePrice(PriceModel.GRADUATED, tiers=TIERS, free_units=D(500))
    # 1,700 - 500 free = 1,200 billable: 1,000 x 0.10 + 200 x 0.08 = 100 + 16 = 116.00
    rated = rate(price, D(1700))
    assert (rated.free, rated.billable, rated.amount) == (D(500), D(1200), D("116.00"))
    # under the allowance: nothing, and the free units shown are those used
    under = rate(price, D(300))
    assert (under.free, under.billable, under.amount) == (D(300), D(0), D("0.00"))
    # per unit: 1,700 - 1,000 free = 700 x 0.02 = 14.00
    assert rate(UsagePrice(PriceModel.PER_UNIT, unit_price=D("0.02"), free_units=D(1000)), D(1700)).amount == D("14.00")


def test_minimum_commitment_true_up() -> None:
    price = UsagePrice(PriceModel.PER_UNIT, unit_price=D("0.10"), minimum=D("500.00"))
    # 3,000 x 0.10 = 300.00 < 500.00: true-up 200.00, 500.00 due
    rated = rate(price, D(3000))
    assert (rated.amount, rated.true_up, rated.due) == (D("300.00"), D("200.00"), D("500.00"))
    assert "true-up 200.00" in rated.explanation
    # 6,000 x 0.10 = 600.00 >= 500.00: no true-up
    assert rate(price, D(6000)).true_up == 0
    # nothing used: the whole minimum
    assert rate(price, D(0)).true_up == D("500.00")


def test_prepaid_credits_draw_down_never_below_zero() -> None:
    price = UsagePrice(PriceModel.PER_UNIT, unit_price=D("0.10"), prepaid=D("1000.00"))
    # 3,000 x 0.10 = 300.00 from 1,000.00 of credits: 300.00 used, 700.00 left, 0 due
    first = rate(price, D(3000), credits_left=D("1000.00"))
    assert (first.credits_used, first.credits_left, first.due) == (D("300.00"), D("700.00"), D("0.00"))
    # next period 9,000 x 0.10 = 900.00 with 700.00 left: 700.00 used, 0 left, 200.00 due
    second = rate(price, D(9000), credits_left=first.credits_left)
    assert (second.credits_used, second.credits_left, second.due) == (D("700.00"), D("0.00"), D("200.00"))
    # no credits left: all due
    assert rate(price, D(10), credits_left=D(0)).due == D("1.00")


def test_minimum_and_credits_together() -> None:
    # 100 x 0.10 = 10.00 charge, minimum 50.00 -> true-up 40.00; credits 30.00 cover 30 of the 50.00: 20.00 due
    price = UsagePrice(PriceModel.PER_UNIT, unit_price=D("0.10"), minimum=D(50), prepaid=D(30))
    rated = rate(price, D(100), credits_left=D(30))
    assert (rated.amount, rated.true_up, rated.credits_used, rated.credits_left, rated.due) == (
        D("10.00"),
        D("40.00"),
        D("30.00"),
        D("0.00"),
        D("20.00"),
    )


def test_negative_quantity_bills_nothing() -> None:
    assert rate(per_unit(D(1)), D(-3)).amount == 0


def test_price_json_round_trip() -> None:
    doc = {
        "model": "tiered",
        "tiers": [{"up_to": 1000, "unit_price": "0.10"}, {"up_to": None, "unit_price": 0.05, "flat_fee": "2"}],
        "free_units": "100",
        "minimum": "50.00",
    }
    price = price_from_json(doc)
    assert price.model is PriceModel.GRADUATED
    assert price.tiers[1] == Tier(None, D("0.05"), D(2))
    assert price_from_json(price_to_json(price)) == price


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model": "flat"}, "model"),
        ({"tiers": []}, "tiers"),
        ({"tiers": [{"up_to": "10", "unit_price": "1"}]}, "tiers[1].up_to"),  # the last tier must be open
        ({"tiers": [{"up_to": None, "unit_price": "1"}, {"up_to": None, "unit_price": "1"}]}, "tiers[1].up_to"),
        (
            {"tiers": [{"up_to": "10", "unit_price": "1"}, {"up_to": "5", "unit_price": "1"}, {"unit_price": "1"}]},
            "tiers[2].up_to",
        ),
        ({"tiers": [{"up_to": None}]}, "tiers[1].unit_price"),
        ({"tiers": [{"up_to": None, "unit_price": "-1"}]}, "tiers[1].unit_price"),
        ({"tiers": [{"up_to": None, "unit_price": "0.0000001"}]}, "tiers[1].unit_price"),
        ({"minimum": "10.001"}, "minimum"),
        ({"free_units": "abc"}, "free_units"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_price_refusals_name_the_field(changes: dict[str, object], field: str) -> None:
    doc = {"model": "graduated", "tiers": [{"up_to": "10", "unit_price": "1"}, {"unit_price": "0.5"}], **changes}
    with pytest.raises(UsageError) as info:
        price_from_json(doc)
    assert info.value.field == field


def test_model_specific_refusals() -> None:
    with pytest.raises(UsageError) as info:
        price_from_json({"model": "package", "unit_price": "5", "package_size": "0"})
    assert info.value.field == "package_size"
    with pytest.raises(UsageError) as info:
        price_from_json({"model": "percentage", "percentage": "101"})
    assert info.value.field == "percentage"
    with pytest.raises(UsageError) as info:
        price_from_json({"model": "per_unit", "unit_price": "1", "tiers": [{"unit_price": "1"}]})
    assert info.value.field == "tiers"
    check_price(per_unit(D("0.000001")))  # six decimals are fine
