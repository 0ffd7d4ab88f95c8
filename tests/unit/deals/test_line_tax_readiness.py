"""A line drafting could not tax is a readiness problem on `lines[N].tax_category`: a product tax
category that is unknown, or that has no VAT rate configured where the line is taxed (the selling
entity's country for a domestic sale). Readiness asks the same VAT determination drafting makes,
so a deal readiness passes always drafts, and one it blocks would have failed in drafting."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from handoff.config import DEFAULTS, BusinessConfig, load_business_config
from handoff.deals.domain.drafting import render_draft
from handoff.deals.domain.readiness import check
from handoff.invoicing.domain.determination import TaxInputsNeeded
from handoff.invoicing.domain.tax import PRODUCT_CATEGORIES, SUPPLY_KINDS, TaxError
from tests.builders import deal, deal_with_lines, line

CONFIG = load_business_config()


def found(d: Any, config: BusinessConfig = CONFIG) -> list[tuple[str, str]]:
    return [(p.code, p.field) for p in check(d, config.ruleset)]


def test_a_category_without_a_rate_in_the_sellers_country_is_a_line_problem() -> None:
    d = deal_with_lines([line(), line(tax_category="super_reduced"), line()])  # ACME-DE to a German business
    assert found(d) == [("invalid", "lines[1].tax_category")]
    [problem] = check(d, CONFIG.ruleset)
    assert problem.message.startswith("line 2: ")
    assert "DE" in problem.message and "super_reduced" in problem.message


def test_parking_is_a_problem_where_the_country_has_no_parking_rate() -> None:
    assert found(deal_with_lines([line(tax_category="parking"), line(), line()])) == [
        ("invalid", "lines[0].tax_category")
    ]
    austrian = {"legal_entity": "ACME-DE", "country": "AT", "customer_type": "consumer", "vat_id": ""}
    # to an Austrian consumer the German rate applies (below the distance-sales threshold): still none
    assert found(deal_with_lines([line(tax_category="parking"), line(), line()], **austrian)) == [
        ("invalid", "lines[0].tax_category")
    ]


def test_a_category_needing_no_rate_where_the_line_is_taxed_is_ready() -> None:
    swiss_buyer = deal_with_lines([line(tax_category="super_reduced"), line(), line()], country="CH", vat_id="")
    assert found(swiss_buyer) == []  # a service to a business outside the EU: no German rate needed
    us_seller = deal_with_lines([line(tax_category="parking"), line(), line()], legal_entity="ACME-US", currency="USD")
    assert found(us_seller) == []  # outside the scope of EU VAT
    assert render_draft(swiss_buyer, CONFIG).tax == 0
    assert render_draft(us_seller, CONFIG).tax == 0


def rules_without_line_rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    rules = yaml.safe_load((DEFAULTS / "rules.yaml").read_text(encoding="utf-8"))
    rules["lines"] = [{"field": "unit_price", "check": "decimal"}]  # no tax_category or supply rule
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    return path


def test_an_unknown_category_is_a_problem_even_without_a_line_rule_on_it(tmp_path: Path) -> None:
    config = load_business_config(rules_file=rules_without_line_rules(tmp_path))
    d = deal_with_lines([line(), line(), line(tax_category="luxury")])
    assert found(d, config) == [("invalid", "lines[2].tax_category")]
    assert found(deal_with_lines([line(), line(supply="rockets"), line()]), config) == [("invalid", "lines[1].supply")]


def test_a_line_rule_problem_is_not_reported_twice() -> None:
    d = deal_with_lines([line(), line(), line(tax_category="luxury")])
    assert found(d) == [("invalid", "lines[2].tax_category")]


def rates_without(tmp_path: Path, country: str) -> Path:
    data = yaml.safe_load((DEFAULTS / "vat_rates.yaml").read_text(encoding="utf-8"))
    del data["rates"][country]
    path = tmp_path / "vat_rates.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_deal_without_lines_is_billed_standard_and_needs_that_rate(tmp_path: Path) -> None:
    config = load_business_config(rates_file=rates_without(tmp_path, "DE"))
    assert found(deal(), config) == [("invalid", "legal_entity")]
    assert found(deal_with_lines([line(), line(), line()]), config) == [
        ("invalid", f"lines[{n}].tax_category") for n in range(3)
    ]
    assert found(deal()) == []


BUYERS = [
    {"country": "DE"},
    {"country": "AT", "vat_id": "ATU13585627"},
    {"country": "AT", "vat_id": "", "customer_type": "consumer"},
    {"country": "CH", "vat_id": ""},
    {"country": "CH", "vat_id": "", "customer_type": "consumer"},
]


@pytest.mark.parametrize(("category", "supply"), list(itertools.product(sorted(PRODUCT_CATEGORIES), SUPPLY_KINDS)))
def test_readiness_passes_exactly_what_drafting_can_tax(category: str, supply: str) -> None:
    for buyer in BUYERS:
        d = deal_with_lines([line(tax_category=category, supply=supply), line(), line()], **buyer)
        problems = found(d)
        try:
            render_draft(d, CONFIG)
            drafted = True
        except TaxInputsNeeded:  # a distance sale: drafting goes on once the seller's running total is known
            drafted = True
        except TaxError:
            drafted = False
        assert drafted == (problems == []), (category, supply, buyer, problems)
        assert problems in ([], [("invalid", "lines[0].tax_category")])
