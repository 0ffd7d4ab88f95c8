"""Tax determination of whole drafts (issue 16, item 9): EU distance sales decided by the seller's
running total (Art. 59c: EUR 10,000, this year and last), US sales tax from the ship-to address by
the rate table, and a tax that cannot be determined raising with what is missing, never 0."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import orjson
import pytest

from handoff.config import BusinessConfig, load_business_config
from handoff.deals.domain.drafting import RenderedDraft, render_draft
from handoff.invoicing.domain.determination import TaxInputs, TaxInputsNeeded, TaxPolicy
from handoff.invoicing.domain.distance_sales import Basis, DistancePosition, decide
from handoff.invoicing.domain.sales_tax import SalesTaxLine, SalesTaxRequest, ShipTo
from handoff.invoicing.domain.tax import TaxUndetermined, VatRates
from handoff.kernel.parties import LegalEntity
from tests.builders import AUSTIN, OREGON, deal, deal_with_lines, line
from tests.corpus import DE_SELLER

CONFIG = load_business_config()
D = Decimal


@dataclass(frozen=True)
class Drafting:
    """What drafting takes of the configuration, with some of it changed."""

    base: BusinessConfig
    vat_rates: VatRates
    tax_policy: TaxPolicy

    @property
    def entities(self) -> Any:
        return self.base.entities

    @property
    def model(self) -> Any:
        return self.base.model


def changed(**changes: Any) -> Drafting:
    return replace(Drafting(CONFIG, CONFIG.vat_rates, CONFIG.tax_policy), **changes)


def document(draft: RenderedDraft) -> Any:
    return orjson.loads(draft.document)


def position(total: str, previous: str = "0", chosen: bool = False) -> DistancePosition:
    return DistancePosition("ACME-DE", 2026, D(total), D(previous), chosen)


@pytest.mark.parametrize(
    ("total", "previous", "chosen", "sale", "destination", "basis"),
    [
        ("0", "0", False, "9999.99", False, Basis.BELOW),
        ("9000", "0", False, "1000.00", False, Basis.BELOW),  # 10,000 is not over 10,000
        ("9000", "0", False, "1000.01", True, Basis.CROSSED),  # the sale that crosses is taxed at destination
        ("10000.01", "0", False, "5", True, Basis.THIS_YEAR),
        ("0", "10000.01", False, "5", True, Basis.PREVIOUS_YEAR),
        ("0", "10000", False, "5", False, Basis.BELOW),
        ("0", "0", True, "5", True, Basis.CHOSEN),  # opted for destination, or OSS registered
    ],
)
def test_the_threshold_decides_origin_or_destination(  # type: ignore[no-untyped-def]
    total, previous, chosen, sale, destination, basis
) -> None:
    place = decide(position(total, previous, chosen), D(sale), D(1))
    assert (place.destination, place.basis) == (destination, basis)
    evidence = place.evidence()
    assert Decimal(evidence["distance_sales_total_eur"]) == Decimal(total) and evidence["distance_sale_eur"] == sale
    assert ("oss" in evidence) == destination


def fr_consumer(*lines: dict[str, str], **changes: str):  # type: ignore[no-untyped-def]
    return deal_with_lines(
        list(lines), country="FR", customer_type="consumer", vat_id="", amount="", requires_po="false", **changes
    )


def test_a_distance_sale_asks_for_the_running_total_and_is_taxed_where_it_puts_the_sale() -> None:
    d = fr_consumer(line(unit_price="4000.00", supply="goods"), line(supply="services"), line(supply="digital"))
    with pytest.raises(TaxInputsNeeded) as needed:
        render_draft(d, CONFIG)
    assert (needed.value.entity, needed.value.distance, needed.value.request) == ("ACME-DE", True, None)

    taxes = [ln["tax"] for ln in document(render_draft(d, CONFIG, TaxInputs(position("0"))))["lines"]]
    # goods and digital services count (8,000 EUR): below the threshold, at the German rate;
    # the other service is taxed where the supplier is whatever the total (Art. 45)
    assert [(t["rule"], t["rate"]) for t in taxes] == [
        ("eu_b2c_origin", "19"),
        ("eu_b2c_origin", "19"),
        ("eu_b2c_origin", "19"),
    ]
    assert taxes[0]["evidence"]["distance_sale_eur"] == "8000.00" and "distance_sale" not in taxes[1]["evidence"]

    crossing = render_draft(d, CONFIG, TaxInputs(position("2500")))
    doc = document(crossing)
    assert [(ln["tax"]["rule"], ln["tax"]["rate"]) for ln in doc["lines"]] == [
        ("eu_b2c_destination", "20"),
        ("eu_b2c_origin", "19"),
        ("eu_b2c_destination", "20"),
    ]
    first = doc["lines"][0]["tax"]["evidence"]
    assert first["distance_sales_basis"] == "crossed_by_this_sale" and first["distance_sales_total_eur"] == "2500.00"
    assert first["oss"] == "union_scheme" and doc["lines"][0]["tax"]["place_of_supply"] == "FR"
    assert crossing.tax == round(D("8000") * D("0.20") + D("4000") * D("0.19"), 2)


def test_a_sale_in_another_currency_counts_in_eur_at_the_configured_rate() -> None:
    d = fr_consumer(line(unit_price="1000.00", supply="goods", currency="USD"), currency="USD")
    evidence = document(render_draft(d, CONFIG, TaxInputs(position("0"))))["lines"][0]["tax"]["evidence"]
    assert (evidence["distance_sale_eur"], evidence["eur_rate"]) == ("860.00", "0.86")  # exchange_rates.EUR.USD
    with pytest.raises(TaxUndetermined) as missing:
        render_draft(d, changed(tax_policy=replace(CONFIG.tax_policy, eur_rates={})), TaxInputs(position("0")))
    assert (missing.value.reason, missing.value.field) == ("no_exchange_rate", "tax.exchange_rate")
    assert "exchange_rates.EUR.USD" in str(missing.value)


def test_a_destination_rate_that_is_not_configured_is_undetermined_never_zero() -> None:
    rates = CONFIG.vat_rates
    without = replace(rates, rates={**rates.rates, "FR": {"standard": D("20")}})
    d = fr_consumer(line(supply="goods", tax_category="reduced"))
    with pytest.raises(TaxUndetermined) as found:
        render_draft(d, changed(vat_rates=without), TaxInputs(position("20000")))
    assert (found.value.reason, found.value.field) == ("no_rate", "tax.rate")
    assert "FR" in str(found.value) and "reduced" in str(found.value)


US = {"country": "US", "vat_id": "", "legal_entity": "ACME-US", "currency": "USD"}


def test_an_austin_customer_of_the_us_entity_pays_8_25_percent_by_the_rate_table() -> None:
    draft = render_draft(deal(amount="1000.00", **US, **AUSTIN), CONFIG)
    assert (draft.net, draft.tax, draft.gross, draft.tax_rules) == (
        D("1000.00"),
        D("82.50"),
        D("1082.50"),
        ("us_sales_tax",),
    )
    tax = document(draft)["lines"][0]["tax"]
    assert (tax["category"], tax["rate"], tax["place_of_supply"]) == ("S", "8.25", "US-TX")
    assert [(j["level"], j["name"], j["rate"]) for j in tax["jurisdictions"]] == [
        ("state", "Texas", "6.25"),
        ("city", "City of Austin", "1.00"),
        ("district", "Capital Metropolitan Transportation Authority", "1.00"),
    ]
    assert tax["evidence"]["engine"] == "rate_table" and tax["evidence"]["ship_to_postal_code"] == "78701"


def request(state: str, postal_code: str, city: str, *supplies: str) -> SalesTaxRequest:
    seller = LegalEntity("ACME-US", "ACME Software Inc.", "US", "USD", DE_SELLER.address)
    lines = tuple(SalesTaxLine(str(n), D("100.00"), "", s, D(1)) for n, s in enumerate(supplies or ("goods",), 1))
    return SalesTaxRequest(seller, ShipTo(state, postal_code, city), "USD", lines)


def test_the_rate_table_finds_a_place_by_zip_code_first_then_by_city() -> None:
    table = CONFIG.sales_tax_rates
    assert table.calculate(request("TX", "78701", "Somewhere")).lines[0].rate == D("8.25")  # ZIP code wins
    assert table.calculate(request("TX", "73301", " austin ")).lines[0].rate == D("8.25")  # else the city
    assert table.calculate(request("NY", "10118", "New York")).lines[0].rate == D("8.875")
    assert table.calculate(request("MA", "02108", "Boston")).lines[0].rate == D("6.25")  # no local rates there


def test_an_address_or_state_the_rate_table_does_not_know_is_undetermined_and_named() -> None:
    table = CONFIG.sales_tax_rates
    with pytest.raises(TaxUndetermined) as houston:
        table.calculate(request("TX", "77002", "Houston"))
    assert (houston.value.reason, houston.value.field) == ("no_jurisdiction", "tax.jurisdiction")
    assert "Houston, TX 77002" in str(houston.value)
    with pytest.raises(TaxUndetermined) as seattle:
        table.calculate(request("WA", "98104", "Seattle"))
    assert seattle.value.reason == "no_jurisdiction" and "state WA" in str(seattle.value)


def test_zero_sales_tax_only_by_a_rule_recorded_on_the_line() -> None:
    oregon = render_draft(deal(amount="1000.00", **US, **OREGON), CONFIG)
    tax = document(oregon)["lines"][0]["tax"]
    assert (oregon.tax, tax["rule"], tax["note"]) == (
        D("0.00"),
        "us_no_sales_tax",
        "No US sales tax: Oregon levies no sales tax",
    )
    assert (tax["category"], tax["exemption_code"]) == ("O", "VATEX-EU-O")  # outside the scope of (EU) VAT
    exempt = deal_with_lines(
        [line(tax_category="exempt_medical"), line(unit_price="8000.00")], **US, **AUSTIN, requires_po="false"
    )
    doc = document(render_draft(exempt, CONFIG))
    assert [(ln["tax"]["rule"], ln["tax"]["rate"]) for ln in doc["lines"]] == [
        ("us_exempt", "0"),
        ("us_sales_tax", "8.25"),
    ]


def test_a_us_sale_without_the_customers_state_is_undetermined() -> None:
    # readiness blocks such a deal first; drafting refuses it all the same
    with pytest.raises(TaxUndetermined) as found:
        render_draft(deal(**US), CONFIG)
    assert (found.value.reason, found.value.field) == ("no_ship_to", "billing_state")


def test_a_us_entity_on_stripe_tax_asks_for_the_engines_answer() -> None:
    config = changed(tax_policy=replace(CONFIG.tax_policy, sales_tax_engines={"ACME-US": "stripe_tax"}))
    with pytest.raises(TaxInputsNeeded) as needed:
        render_draft(deal(amount="1000.00", **US, **AUSTIN), config)
    found = needed.value
    assert (found.engine, found.distance) == ("stripe_tax", False)
    assert found.request is not None and found.request.ship_to == ShipTo("TX", "78701", "Austin", "Hauptstraße 1")
    assert [(ln.reference, ln.amount, ln.product_tax_code) for ln in found.request.lines] == [
        ("1", D("1000.00"), "txcd_20030000")
    ]


def test_a_deal_discount_moves_with_its_lines_to_the_sales_tax_rate() -> None:
    d = deal(amount="1000.00", discount="10%", **US, **AUSTIN)
    draft = render_draft(d, CONFIG)
    doc = document(draft)
    assert [(a["category"], a["rate"], a["amount"]) for a in doc["allowances"]] == [("S", "8.25", "100.00")]
    assert (draft.net, draft.tax) == (D("900.00"), D("74.25"))  # 8.25 % of 1,000 less 10 %
