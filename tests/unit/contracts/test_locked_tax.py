"""The VAT treatment agreed at the quote lock (issue 20): kept on each contract line with its
evidence, round-tripped by the version's JSON, left out of it when there is none (so the content
hash of versions stored before is unchanged), and decided as drafting decides it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from handoff.config import load_business_config
from handoff.contracts.domain.model import ContractError, ContractVersion
from handoff.contracts.domain.quote import contract_from_deal
from handoff.invoicing.domain.tax import Jurisdiction, TaxDecision, VatCategory
from tests.builders import AUSTIN, deal, deal_with_lines, line
from tests.unit.contracts.test_model import recurring_line, rich_version, version

CONFIG = load_business_config()
DE, US = CONFIG.entities["ACME-DE"], CONFIG.entities["ACME-US"]
CLOSED = date(2026, 10, 30)
PLATFORM = line("Platform", "1", "10000.00", billing="recurring", frequency="annual", end="2030-01-01")
SETUP = line("Setup", "1", "2000.00")

# Computed from the code before lines carried a tax (commit b83b6c3): the hash of a version
# without tax must never change, or every stored version would look tampered with.
RICH_HASH = "9f86ce265c3fe82a62e19f2bff65518294ab70d2912724b56079e52fa3501ebf"
PLAIN_HASH = "7cc158f6e37f8371f797ba9abaae52793855ae03c46df867f42e91e0fc9507bf"

REVERSE = TaxDecision(
    VatCategory.REVERSE_CHARGE,
    Decimal("0"),
    "reverse_charge",
    "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC)",
    "VATEX-EU-AE",
    {"seller_country": "DE", "buyer_country": "FR", "buyer_vat_id": "FR40303265045", "rule": "reverse_charge"},
    "FR",
)


def test_a_version_without_tax_keeps_its_json_and_content_hash() -> None:
    assert rich_version().content_hash == RICH_HASH
    assert version(recurring_line()).content_hash == PLAIN_HASH
    assert all("tax" not in ln for ln in rich_version().to_json()["lines"])
    back = ContractVersion.from_json(rich_version().to_json())
    assert back == rich_version() and all(ln.tax is None for ln in back.lines)


def test_a_line_tax_round_trips_exactly_and_changes_the_hash() -> None:
    us = TaxDecision(
        VatCategory.STANDARD,
        Decimal("8.250"),
        "us_sales_tax",
        evidence={"engine": "rate_table"},
        place_of_supply="",
        jurisdictions=(Jurisdiction("state", "TX", Decimal("6.25")), Jurisdiction("city", "Austin", Decimal("2.00"))),
    )
    taxed = version(replace(recurring_line("L1"), tax=REVERSE), replace(recurring_line("L2"), tax=us))
    doc = taxed.to_json()
    assert doc["lines"][0]["tax"]["category"] == "AE" and doc["lines"][0]["tax"]["exemption_code"] == "VATEX-EU-AE"
    assert doc["lines"][1]["tax"]["rate"] == "8.250"  # the exponent kept
    back = ContractVersion.from_json(doc)
    assert back == taxed
    assert back.lines[0].tax == REVERSE and back.lines[1].tax == us
    assert back.content_hash == taxed.content_hash != version(recurring_line("L1"), recurring_line("L2")).content_hash


@pytest.mark.parametrize(
    ("tax", "message"),
    [
        ({"rate": "0", "rule": "x"}, "contract C-1 line L1: tax.category is missing"),
        ({"category": "XX", "rate": "0", "rule": "x"}, "contract C-1 line L1: tax.category is 'XX', not one of"),
        ({"category": "S", "rate": "high", "rule": "x"}, "contract C-1 line L1: tax.rate is not a decimal number"),
        ({"category": "S", "rate": "19"}, "contract C-1 line L1: tax.rule is missing"),
        ({"category": "S", "rate": "19", "rule": "x", "evidence": {"a": 1}}, "tax.evidence.a is not text"),
        ("AE", "contract C-1 line L1: tax is not an object"),
    ],
)
def test_an_unreadable_line_tax_is_refused_naming_the_field(tax: object, message: str) -> None:
    doc = version(recurring_line()).to_json()
    doc["lines"][0]["tax"] = tax
    with pytest.raises(ContractError, match=message.replace("(", r"\(")):
        ContractVersion.from_json(doc)


def test_an_eu_business_buyer_in_another_member_state_is_locked_at_reverse_charge_with_its_evidence() -> None:
    d = deal_with_lines([PLATFORM, SETUP], country="FR", vat_id="FR40303265045", customer_legal_name="Kestrel SAS")
    locked = contract_from_deal(d, CLOSED, seller=DE, rates=CONFIG.vat_rates)
    for ln in locked.lines:
        assert ln.tax is not None
        assert (ln.tax.category, ln.tax.rate, ln.tax.rule) == (VatCategory.REVERSE_CHARGE, Decimal(0), "reverse_charge")
        assert (ln.tax.exemption_code, ln.tax.place_of_supply) == ("VATEX-EU-AE", "FR")
        assert ln.tax.evidence["buyer_vat_id"] == "FR40303265045"
        assert ln.tax.evidence["seller_country"] == "DE" and ln.tax.evidence["supply"] == "services"
    assert ContractVersion.from_json(locked.to_json()) == locked


def test_a_domestic_sale_is_locked_at_the_standard_rate_and_an_exempt_line_as_exempt() -> None:
    d = deal_with_lines([PLATFORM, {**SETUP, "tax_category": "exempt_education"}])
    platform, setup = contract_from_deal(d, CLOSED, seller=DE, rates=CONFIG.vat_rates).lines
    assert platform.tax is not None and setup.tax is not None
    assert (platform.tax.category, platform.tax.rate, platform.tax.rule) == (
        VatCategory.STANDARD,
        CONFIG.vat_rates.rate("DE", "standard"),
        "domestic",
    )
    assert (setup.tax.category, setup.tax.exemption_code) == (VatCategory.EXEMPT, "VATEX-EU-132-1I")


def test_a_deal_without_lines_is_locked_with_its_one_lines_tax() -> None:
    d = deal(billing_start="2027-03-01", country="FR", vat_id="FR40303265045")
    (only,) = contract_from_deal(d, CLOSED, seller=DE, rates=CONFIG.vat_rates).lines
    assert only.tax is not None and only.tax.rule == "reverse_charge"


def test_taxes_decided_from_outside_inputs_are_left_to_the_billing_run() -> None:
    # a digital service to a consumer in another member state: origin or destination by the running total
    b2c = deal_with_lines(
        [{**PLATFORM, "supply": "digital"}, SETUP], customer_type="individual", country="FR", vat_id=""
    )
    digital, services = contract_from_deal(b2c, CLOSED, seller=DE, rates=CONFIG.vat_rates).lines
    assert digital.tax is None
    assert services.tax is not None and services.tax.rule == "eu_b2c_origin"  # services: never a distance sale
    # US sales tax: a tax engine answers at billing; an exempt line is decided at once
    us = deal_with_lines(
        [PLATFORM, {**SETUP, "tax_category": "exempt"}], legal_entity="ACME-US", country="US", vat_id="", **AUSTIN
    )
    taxable, exempt = contract_from_deal(us, CLOSED, seller=US, rates=CONFIG.vat_rates).lines
    assert taxable.tax is None and exempt.tax is not None


def test_without_a_seller_and_rates_no_tax_is_locked() -> None:
    d = deal_with_lines([PLATFORM, SETUP])
    assert all(ln.tax is None for ln in contract_from_deal(d, CLOSED).lines)
