"""The catalog's pure rules: products checked field by field, versions only appended, prices and
rates effective-dated, and the catalog file read whole or refused with every row named."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from handoff.contracts.domain.catalog import (
    CatalogError,
    CrmProduct,
    PriceListEntry,
    Product,
    ProductVersion,
    RateCardEntry,
    changed_fields,
    check_price,
    check_product,
    check_rate,
    next_version,
    price_change,
    price_for,
    product_as_of,
    rate_for,
)
from handoff.contracts.domain.unit_codes import COMMON, REC20_CODES
from handoff.contracts.formats.catalog_file import CatalogFileError, read_catalog_file

TODAY = date(2027, 3, 1)
SUPPORT = Product("SUP-STD", "Standard support", "MON", "standard", "4000", "ratable")
RULES = Path(__file__).resolve().parents[3] / "src/handoff/invoicing/rules/en16931"


def test_unit_codes_are_exactly_those_the_shipped_en16931_rules_accept() -> None:
    for name in ("EN16931-UBL-validation.xslt", "EN16931-CII-validation.xslt"):
        text = (RULES / name).read_text(encoding="utf-8")
        lists = re.findall(r"contains\(' ([^']+) ', concat\(' ', normalize-space\(@unitCode\)", text)
        assert lists and all(set(found.split()) == REC20_CODES for found in lists), name
    assert set(COMMON) <= REC20_CODES
    assert {"C62", "H87", "HUR", "DAY", "MON", "ANN", "KGM", "MTR", "LTR", "E48", "MIN", "WEE", "QAN", "SEC"} <= set(
        COMMON
    )


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"sku": ""}, "sku", "is missing"),
        ({"sku": "has space"}, "sku", "may hold only"),
        ({"name": "  "}, "name", "is missing"),
        ({"unit_code": "hour"}, "unit_code", "not a UN/ECE Rec 20 unit code"),
        ({"unit_code": "hur"}, "unit_code", "did you mean HUR?"),
        ({"tax_category": "luxury"}, "tax_category", "'luxury' is not one of"),
        ({"revenue_rule": "whenever"}, "revenue_rule", "point_in_time, ratable, milestone, usage"),
        ({"name": "bad\x00name"}, "name", "control characters"),
    ],
)
def test_a_product_is_refused_naming_the_record_and_field(change: dict[str, str], field: str, words: str) -> None:
    product = Product(**{**SUPPORT.content(), **change})
    with pytest.raises(CatalogError) as caught:
        check_product(product)
    assert caught.value.field == field
    assert words in str(caught.value)
    if change.get("sku", SUPPORT.sku) == SUPPORT.sku:
        assert str(caught.value).startswith(f"product SUP-STD: {field}")


def test_a_product_is_trimmed_and_content_round_trips() -> None:
    product = check_product(Product(" SUP-STD ", " Standard support ", "MON", gl_account=" 4000 "))
    assert (product.sku, product.name, product.gl_account) == ("SUP-STD", "Standard support", "4000")
    assert Product.from_content({**product.content(), "future_field": 1}) == product


def test_versions_are_appended_only_when_something_changed_and_never_into_the_past() -> None:
    first = next_version([], SUPPORT, date(2026, 1, 1), TODAY)  # a first version may start in the past
    assert first == ProductVersion(1, date(2026, 1, 1), SUPPORT)
    assert next_version([first], SUPPORT, TODAY, TODAY) is None
    renamed = Product(**{**SUPPORT.content(), "name": "Support Standard"})
    second = next_version([first], renamed, date(2027, 6, 1), TODAY)
    assert second == ProductVersion(2, date(2027, 6, 1), renamed)
    with pytest.raises(CatalogError, match="2027-02-28 is past: a change never rewrites history") as caught:
        next_version([first], renamed, date(2027, 2, 28), TODAY)
    assert caught.value.field == "valid_from"
    assert second is not None
    with pytest.raises(CatalogError, match="before version 2 \\(valid from 2027-06-01\\)"):
        next_version([first, second], SUPPORT, date(2027, 5, 1), TODAY)
    assert changed_fields(SUPPORT, renamed) == {"name": {"before": "Standard support", "after": "Support Standard"}}


def test_product_as_of_a_day_is_the_version_then_in_force() -> None:
    renamed = Product(**{**SUPPORT.content(), "name": "Support Standard"})
    versions = [ProductVersion(2, date(2027, 6, 1), renamed), ProductVersion(1, date(2027, 1, 1), SUPPORT)]
    assert product_as_of(versions, date(2027, 5, 31)) == SUPPORT
    assert product_as_of(versions, date(2027, 6, 1)) == renamed
    with pytest.raises(CatalogError) as caught:
        product_as_of(versions, date(2026, 12, 31))
    assert str(caught.value) == (
        "product SUP-STD: has no version valid on 2026-12-31 (the first is valid from 2027-01-01)"
    )


def test_price_for_a_day_and_the_errors_name_sku_currency_and_day() -> None:
    entries = [
        PriceListEntry("SUP-STD", "EUR", Decimal("100.00"), date(2027, 1, 1)),
        PriceListEntry("SUP-STD", "EUR", Decimal("110.00"), date(2027, 7, 1)),
        PriceListEntry("SUP-STD", "USD", Decimal("120.00"), date(2027, 1, 1)),
    ]
    assert price_for(entries, "SUP-STD", "eur", date(2027, 6, 30)).unit_price == Decimal("100.00")
    assert price_for(entries, "SUP-STD", "EUR", date(2027, 7, 1)).unit_price == Decimal("110.00")
    with pytest.raises(CatalogError) as caught:
        price_for(entries, "SUP-STD", "EUR", date(2026, 12, 31))
    assert str(caught.value) == (
        "product SUP-STD: price has no price in EUR on 2026-12-31 (the first is valid from 2027-01-01)"
    )
    with pytest.raises(CatalogError, match="product SUP-STD: price has no price in CHF"):
        price_for(entries, "SUP-STD", "CHF", TODAY)
    with pytest.raises(CatalogError, match="product OTHER: price has no price in EUR"):
        price_for(entries, "OTHER", "EUR", TODAY)


def test_price_changes_never_rewrite_a_past_day() -> None:
    eur = [PriceListEntry("SUP-STD", "EUR", Decimal("100"), date(2027, 1, 1))]
    same = PriceListEntry("SUP-STD", "EUR", Decimal("100.00"), date(2027, 1, 1))
    assert price_change(eur, same, TODAY) == "unchanged"
    assert price_change(eur, PriceListEntry("SUP-STD", "EUR", Decimal("90"), TODAY), TODAY) == "new"
    future = [*eur, PriceListEntry("SUP-STD", "EUR", Decimal("120"), date(2027, 9, 1))]
    assert price_change(future, PriceListEntry("SUP-STD", "EUR", Decimal("125"), date(2027, 9, 1)), TODAY) == "replace"
    with pytest.raises(CatalogError, match="price SUP-STD EUR: valid_from 2027-02-01 is past"):
        price_change(eur, PriceListEntry("SUP-STD", "EUR", Decimal("90"), date(2027, 2, 1)), TODAY)
    # before the first price of that currency nothing was in force: filling those days rewrites nothing
    assert price_change(eur, PriceListEntry("SUP-STD", "EUR", Decimal("95"), date(2026, 6, 1)), TODAY) == "new"


def test_prices_and_rates_are_checked_naming_the_record_and_field() -> None:
    assert check_price(PriceListEntry("SUP-STD", "eur", "99.50", TODAY)) == PriceListEntry(  # type: ignore[arg-type]
        "SUP-STD", "EUR", Decimal("99.50"), TODAY
    )
    for value, words in (
        ("-1", "must be at least zero"),
        ("1.1234567", "more than 6 decimals"),
        ("ten", "not a decimal"),
    ):
        with pytest.raises(CatalogError, match=f"price SUP-STD EUR: unit_price .*{words}"):
            check_price(PriceListEntry("SUP-STD", "EUR", value, TODAY))  # type: ignore[arg-type]
    with pytest.raises(CatalogError, match="price SUP-STD: currency 'EUX' is not an ISO 4217"):
        check_price(PriceListEntry("SUP-STD", "EUX", Decimal(1), TODAY))
    with pytest.raises(CatalogError, match="must be a decimal number as text, got float"):
        check_price(PriceListEntry("SUP-STD", "EUR", 1.5, TODAY))  # type: ignore[arg-type]
    with pytest.raises(CatalogError, match="rate consultant EUR: hourly_rate 0 must be above zero"):
        check_rate(RateCardEntry("consultant", "EUR", Decimal(0), TODAY))
    rates = [RateCardEntry("consultant", "EUR", Decimal("150"), date(2027, 1, 1))]
    assert rate_for(rates, "consultant", "EUR", TODAY).hourly_rate == Decimal("150")
    with pytest.raises(CatalogError, match="rate architect: hourly_rate has no rate in EUR on 2027-03-01"):
        rate_for(rates, "architect", "EUR", TODAY)


def test_a_crm_product_changes_only_the_fields_the_crm_owns() -> None:
    crm = CrmProduct("pipedrive", "5", "SUP-STD", {"name": "Support", "unit_code": "HUR", "sku": "X"}, ())
    merged = crm.merged(SUPPORT)
    assert merged == Product("SUP-STD", "Support", "HUR", "standard", "4000", "ratable")
    assert crm.merged(None) == Product("SUP-STD", "Support", "HUR")


YAML = b"""
products:
  - sku: SUP-STD
    name: Standard support
    unit_code: MON
    gl_account: 4000
    revenue_rule: ratable
    valid_from: 2027-01-01
    prices:
      - {currency: EUR, unit_price: 100.10, valid_from: 2027-01-01}
      - {currency: usd, unit_price: "120"}
  - sku: IMPL
    name: Implementation day
    unit_code: DAY
    active: no
rates:
  - {role: consultant, currency: EUR, hourly_rate: 150.5}
"""


def test_a_yaml_catalog_is_read_exactly() -> None:
    found = read_catalog_file(YAML, "catalog.yaml", TODAY)
    assert [(row, p.sku, d) for row, p, d in found.products] == [
        ("products[1]", "SUP-STD", date(2027, 1, 1)),
        ("products[2]", "IMPL", TODAY),
    ]
    assert found.products[0][1].gl_account == "4000" and found.products[1][1].active is False
    assert [(r, e.currency, e.unit_price, e.valid_from) for r, e in found.prices] == [
        ("products[1].prices[1]", "EUR", Decimal("100.10"), date(2027, 1, 1)),
        ("products[1].prices[2]", "USD", Decimal("120"), TODAY),
    ]
    assert found.rates == [("rates[1]", RateCardEntry("consultant", "EUR", Decimal("150.5"), TODAY))]


def test_a_bad_file_is_refused_with_every_problem_naming_row_and_field() -> None:
    bad = b"""
products:
  - {sku: A, name: Good}
  - {sku: B, name: Bad unit, unit_code: hours}
  - {sku: C, name: Bad price, prices: [{currency: EUR, unit_price: -5}]}
  - {sku: A, name: Twice}
  - {sku: D, name: Odd, colour: red}
rates:
  - {role: consultant, currency: XXY, hourly_rate: 10}
"""
    with pytest.raises(CatalogFileError) as caught:
        read_catalog_file(bad, "bad.yml", TODAY)
    assert caught.value.problems == [
        "products[2]: unit_code 'hours' is not a UN/ECE Rec 20 unit code",
        "products[3].prices[1]: unit_price -5 must be at least zero",
        "products[5]: colour is not a product field",
        "rates[1]: currency 'XXY' is not an ISO 4217 currency code",
        "products[4]: sku A is also on products[1]",
    ]
    assert "5 problem(s), nothing imported" in str(caught.value)


def test_a_csv_catalog_names_lines_and_fields() -> None:
    good = (
        b"sku,name,unit_code,tax_category,gl_account,revenue_rule,active,valid_from,currency,unit_price,price_from\n"
        b"SUP-STD,Standard support,MON,standard,4000,ratable,yes,2027-01-01,EUR,100.00,2027-01-01\n"
        b"SUP-STD,Standard support,MON,standard,4000,ratable,yes,2027-01-01,USD,120.00,\n"
        b"IMPL,Implementation,DAY,standard,4010,point_in_time,,,,,\n"
    )
    found = read_catalog_file(good, "catalog.csv", TODAY)
    assert [p.sku for _, p, _ in found.products] == ["SUP-STD", "IMPL"]
    assert [(r, e.currency, e.unit_price, e.valid_from) for r, e in found.prices] == [
        ("row 2", "EUR", Decimal("100.00"), date(2027, 1, 1)),
        ("row 3", "USD", Decimal("120.00"), TODAY),
    ]
    bad = (
        b"sku,name,unit_code,revenue_rule,currency,unit_price,price_from\n"
        b"A,Alpha,C62,ratable,EUR,1.00,2027-13-01\n"
        b"B,,C62,ratable,,,\n"
        b"A,Alpha renamed,C62,ratable,,,\n"
        b"C,Gamma,C62,someday,,,\n"
    )
    with pytest.raises(CatalogFileError) as caught:
        read_catalog_file(bad, "bad.csv", TODAY)
    assert caught.value.problems == [
        "row 2: price_from '2027-13-01' is not a date (YYYY-MM-DD)",
        "row 3: name is missing",
        "row 4: sku A is described differently on row 2",
        "row 5: revenue_rule 'someday' is not one of point_in_time, ratable, milestone, usage",
    ]
    with pytest.raises(CatalogFileError, match="header: unknown column 'colour'"):
        read_catalog_file(b"sku,colour\nA,red\n", "x.csv", TODAY)
