"""The tax configuration (issue 16, item 9): `tax` in handoff.yaml (distance sales per EU entity,
the sales tax engine per US entity) and the US sales tax rate table, validated at load with the
file and entry named; and a US customer's state and ZIP code as readiness rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from handoff.config import DEFAULTS, ConfigError, Settings, load_business_config
from handoff.deals.domain.readiness import check
from tests.builders import deal

CONFIG = load_business_config()


def with_tax(tmp_path: Path, tax: dict[str, Any]) -> Path:
    data = yaml.safe_load((DEFAULTS / "handoff.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "handoff.yaml"
    path.write_text(yaml.safe_dump({**data, "tax": tax}), encoding="utf-8")
    return path


def test_the_tax_section_becomes_the_policy(tmp_path: Path) -> None:
    tax = {
        "distance_sales": {"ACME-DE": {"destination": True, "earlier_sales_eur": {2025: "4200.50"}}},
        "sales_tax": {"ACME-US": {"engine": "stripe_tax"}},
    }
    policy = load_business_config(with_tax(tmp_path, tax)).tax_policy
    assert policy.destination_entities == {"ACME-DE"} and str(policy.earlier("ACME-DE", 2025)) == "4200.50"
    assert (policy.engine("ACME-US"), policy.engine("OTHER")) == ("stripe_tax", "rate_table")
    assert str(policy.eur_rate("USD")) == "0.86"  # exchange_rates.EUR.USD


@pytest.mark.parametrize(
    ("tax", "message"),
    [
        ({"sales_tax": {"ACME-FR": {}}}, "tax.sales_tax: 'ACME-FR' is not a legal entity"),
        ({"sales_tax": {"ACME-DE": {}}}, "tax.sales_tax.ACME-DE: the entity is in DE, not in the US"),
        ({"distance_sales": {"ACME-US": {}}}, "tax.distance_sales.ACME-US: the entity is in US, not in the EU"),
        ({"sales_tax": {"ACME-US": {"engine": "avalara"}}}, "tax.sales_tax.ACME-US.engine"),
        ({"distance_sales": {"ACME-DE": {"earlier_sales_eur": {2025: "-1"}}}}, "earlier_sales_eur"),
    ],
)
def test_a_wrong_tax_section_is_refused_naming_the_entry(tmp_path: Path, tax: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"handoff\.yaml") as refused:
        load_business_config(with_tax(tmp_path, tax))
    assert message in str(refused.value)


def test_the_rate_table_comes_from_its_file_and_is_validated(tmp_path: Path) -> None:
    table = tmp_path / "rates.yaml"
    table.write_text(
        "source: test\nas_of: 2026-01-01\nstates:\n  TX:\n    name: Texas\n    rate: '6.25'\n"
        "    local:\n      - {city: Austin, jurisdictions: [{level: parish, name: X, rate: '1'}]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"rates.yaml: states.TX.local.0.jurisdictions.0.level"):
        load_business_config(sales_tax_file=table)
    table.write_text("source: test\nas_of: 2026-01-01\nstates:\n  TX: {name: Texas, rate: '6.25'}\n", encoding="utf-8")
    rates = load_business_config(sales_tax_file=table).sales_tax_rates
    assert list(rates.states) == ["TX"] and rates.states["TX"].local == ()
    settings = Settings.from_env({"HANDOFF_SALES_TAX_RATES": str(table)})
    assert settings.sales_tax_file == table


def test_the_bundled_rate_table_has_austin_at_8_25_percent() -> None:
    texas = CONFIG.sales_tax_rates.states["TX"]
    [austin] = [p for p in texas.local if p.city == "Austin"]
    assert texas.rate + sum(j.rate for j in austin.jurisdictions) == 8.25


def problems(**changes: str) -> list[tuple[str, str]]:
    return [(p.code, p.field) for p in check(deal(**changes), CONFIG.ruleset)]


def test_a_us_customer_needs_its_state_and_zip_code() -> None:
    us = {"country": "US", "vat_id": ""}
    assert problems(**us, billing_postal_code="") == [("missing", "billing_state"), ("missing", "billing_postal_code")]
    assert problems(**us, billing_state="texas", billing_postal_code="78701-1234") == []
    assert problems(**us, billing_state="US-TX", billing_postal_code="78701") == []
    assert problems(**us, billing_state="Bavaria", billing_postal_code="D-78701") == [
        ("invalid", "billing_state"),
        ("invalid", "billing_postal_code"),
    ]
    assert problems(billing_state="", billing_postal_code="10115") == []  # a German customer needs neither


def test_the_state_is_kept_as_its_code_on_the_customer() -> None:
    from handoff.deals.domain.orders import to_billable

    customer = to_billable(deal(country="United States", billing_state="Texas")).customer
    assert (customer.country, customer.address.region) == ("US", "TX")
