"""VAT determination: one test per place-of-supply rule, and the rates file against the
community-kept ibericode/vat-rates data set."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from handoff.invoicing.domain.tax import TaxError, VatRates, determine
from handoff.kernel.parties import EU_MEMBER_STATES
from tests.conftest import ORACLES
from tests.corpus import DE_BUYER, DE_SELLER, FR_BUYER, FR_CONSUMER, GB_BUYER, GB_SELLER, RATES, US_BUYER, customer

US_CONSUMER = customer("C-USX", "Joe Bloggs", "US", business=False)
FR_UNREGISTERED = customer("C-FRU", "Association Loi 1901", "FR", business=True)


@pytest.mark.parametrize(
    ("buyer", "supply", "product", "over", "expected"),
    [
        (DE_BUYER, "services", "standard", False, ("S", "19", "domestic", "DE")),
        (DE_BUYER, "goods", "reduced", False, ("S", "7", "domestic", "DE")),
        (DE_BUYER, "goods", "zero", False, ("Z", "0", "domestic_zero", "DE")),
        (FR_BUYER, "services", "standard", False, ("AE", "0", "reverse_charge", "FR")),
        (FR_BUYER, "digital", "standard", True, ("AE", "0", "reverse_charge", "FR")),
        (FR_BUYER, "goods", "reduced", False, ("K", "0", "intra_community_supply", "FR")),
        (FR_CONSUMER, "digital", "standard", False, ("S", "19", "eu_b2c_origin", "DE")),
        (FR_CONSUMER, "digital", "standard", True, ("S", "20", "eu_b2c_destination", "FR")),
        (FR_CONSUMER, "goods", "reduced", True, ("S", "10", "eu_b2c_destination", "FR")),
        (FR_CONSUMER, "services", "standard", True, ("S", "19", "eu_b2c_origin", "DE")),  # Art. 45
        (FR_UNREGISTERED, "goods", "standard", False, ("S", "19", "eu_b2c_origin", "DE")),
        (US_BUYER, "goods", "standard", False, ("G", "0", "export", "")),
        (GB_BUYER, "services", "standard", False, ("G", "0", "services_outside_eu", "")),
        (US_CONSUMER, "digital", "standard", False, ("G", "0", "services_outside_eu", "")),
        (US_CONSUMER, "services", "standard", False, ("S", "19", "non_eu_b2c_services_origin", "DE")),
        (DE_BUYER, "services", "exempt_education", False, ("E", "0", "exempt", "DE")),
        (FR_BUYER, "services", "exempt_financial", False, ("E", "0", "exempt", "FR")),
    ],
)
def test_place_of_supply_rules(buyer, supply, product, over, expected) -> None:  # type: ignore[no-untyped-def]
    decision = determine(DE_SELLER, buyer, supply, product, RATES, over_distance_threshold=over)
    category, rate, rule, place = expected
    assert (decision.category, decision.rate, decision.rule, decision.place_of_supply) == (
        category,
        Decimal(rate),
        rule,
        place,
    )
    assert decision.evidence["rule"] == rule
    assert decision.evidence["supply"] == supply and decision.evidence["buyer_country"] == buyer.country


def test_every_exempt_decision_has_note_and_vatex_code_and_zero_has_a_note_only() -> None:
    cases = [
        (FR_BUYER, "services", "standard"),
        (FR_BUYER, "goods", "standard"),
        (US_BUYER, "goods", "standard"),
        (DE_BUYER, "services", "exempt"),
        (DE_BUYER, "services", "exempt_medical"),
    ]
    for buyer, supply, product in cases:
        decision = determine(DE_SELLER, buyer, supply, product, RATES)
        assert decision.rate == 0
        assert decision.note and decision.exemption_code.startswith("VATEX-EU-"), decision
    zero = determine(DE_SELLER, DE_BUYER, "goods", "zero", RATES)
    # EN 16931 BR-Z-10: no exemption reason on a zero-rated breakdown; the note is for readers.
    assert zero.note and zero.exemption_code == ""


def test_seller_outside_the_eu_is_outside_scope() -> None:
    decision = determine(GB_SELLER, GB_BUYER, "services", "standard", RATES)
    assert (decision.category, decision.exemption_code, decision.rule) == ("O", "VATEX-EU-O", "outside_scope")


def test_unknown_inputs_are_configuration_errors() -> None:
    with pytest.raises(TaxError, match="supply kind"):
        determine(DE_SELLER, DE_BUYER, "rocks", "standard", RATES)
    with pytest.raises(TaxError, match="product tax category"):
        determine(DE_SELLER, DE_BUYER, "goods", "luxury", RATES)
    with pytest.raises(TaxError, match="DK / reduced"):
        determine(DE_SELLER, customer("C-DK", "Kunde ApS", "DK", business=False), "goods", "reduced", RATES, True)


def test_rates_file_covers_every_member_state_with_source_and_date() -> None:
    assert set(RATES.rates) == EU_MEMBER_STATES
    assert RATES.source and RATES.as_of == date(2026, 1, 1)
    assert VatRates.from_mapping({"source": "x", "as_of": "2026-01-01", "rates": {"de": {"standard": 19}}}).rate(
        "DE", "standard"
    ) == Decimal("19")


IBERICODE = ORACLES / "eu-vat" / "ibericode-vat-rates" / "vat-rates.json"


def test_rates_match_the_ibericode_community_data_set() -> None:
    """Cross-check against ibericode/vat-rates (community-kept, not an official source): the period
    in force on our `as_of` date must have the same standard, reduced, super-reduced and parking
    rates. `reduced` is the higher and `reduced_low` the lower of two reduced rates."""
    if not IBERICODE.is_file():
        pytest.skip(f"{IBERICODE} not found (set HANDOFF_ORACLES)")
    items = json.loads(IBERICODE.read_text(encoding="utf-8"))["items"]
    for country, ours in RATES.rates.items():
        periods = sorted(
            (p for p in items[country] if p["effective_from"] <= RATES.as_of.isoformat()),
            key=lambda p: p["effective_from"],
        )
        theirs = {k: Decimal(str(v)) for k, v in periods[-1]["rates"].items()}
        reduced = sorted(v for k, v in theirs.items() if k.startswith("reduced"))
        assert ours["standard"] == theirs["standard"], country
        assert sorted(v for k, v in ours.items() if k.startswith("reduced")) == reduced, country
        for name in ("super_reduced", "parking"):
            assert ours.get(name) == theirs.get(name), (country, name)
        if reduced:
            assert ours["reduced"] == reduced[-1], country
