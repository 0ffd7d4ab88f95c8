"""The catalog on SQLite and PostgreSQL: versions kept and audited, a product and a price as of a
day, a catalog file imported all or nothing, and CRM products synced without touching what finance owns."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.contracts.connectors.crm_products import from_pipedrive
from handoff.contracts.domain.catalog import CatalogError, Product
from handoff.contracts.formats.catalog_file import CatalogFileError
from handoff.contracts.service import catalog
from handoff.kernel.storage import schema
from tests.conftest import Clock

FINANCE = "finance@acme.example"
SUPPORT = Product("SUP-STD", "Standard support", "MON", "standard", "4000", "ratable")


def _audit(ctx: AppContext) -> list[tuple[str, str, str, str]]:
    a = schema.audit_log
    with ctx.engine.connect() as conn:
        q = select(a.c.action, a.c.entity_id, a.c.actor, a.c.reason).where(a.c.entity_type == "product")
        return [tuple(r) for r in conn.execute(q.order_by(a.c.seq))]  # type: ignore[misc]


def _count(ctx: AppContext, table: object) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_versions_are_kept_and_a_product_is_read_as_of_a_day(ctx: AppContext, clock: Clock) -> None:
    today = clock().date()
    first = catalog.upsert_product(ctx, SUPPORT, FINANCE, "new offer", valid_from=date(2026, 1, 1))
    assert (first.version, first.created, first.changed) == (1, True, True)
    again = catalog.upsert_product(ctx, SUPPORT, FINANCE, "same again")
    assert (again.version, again.changed) == (1, False)  # nothing changed: no version, no audit entry

    later = today + timedelta(days=30)
    renamed = catalog.change_product(
        ctx, "SUP-STD", {"name": "Premium support", "unit_code": "ANN"}, FINANCE, "rebrand", later
    )
    assert (renamed.version, renamed.changed, renamed.created) == (2, True, False)
    with pytest.raises(CatalogError, match="is past: a change never rewrites history"):
        catalog.change_product(ctx, "SUP-STD", {"gl_account": "4100"}, FINANCE, "back-dated", date(2026, 6, 1))

    assert catalog.product_as_of(ctx, "SUP-STD", today).name == "Standard support"
    assert catalog.product_as_of(ctx, "SUP-STD", later) == Product(
        "SUP-STD", "Premium support", "ANN", "standard", "4000", "ratable"
    )
    with pytest.raises(CatalogError, match="product SUP-STD: has no version valid on 2025-12-31"):
        catalog.product_as_of(ctx, "SUP-STD", date(2025, 12, 31))

    shown = catalog.show_product(ctx, "SUP-STD")
    assert shown is not None and shown["version"] == 2 and shown["name"] == "Premium support"
    assert [(v["version"], v["valid_from"], v["created_by"], v["reason"]) for v in shown["versions"]] == [
        (1, date(2026, 1, 1), FINANCE, "new offer"),
        (2, later, FINANCE, "rebrand"),
    ]
    assert shown["versions"][0]["content"]["name"] == "Standard support"  # history is not rewritten
    assert _audit(ctx) == [
        ("catalog.product_added", "SUP-STD", FINANCE, "new offer"),
        ("catalog.product_changed", "SUP-STD", FINANCE, "rebrand"),
    ]
    page = catalog.list_products(ctx, text="premium")
    assert [(p["sku"], p["version"]) for p in page.items] == [("SUP-STD", 2)]
    assert catalog.list_products(ctx, active=False).total == 0


def test_a_price_is_effective_dated_and_errors_name_sku_currency_and_day(ctx: AppContext, clock: Clock) -> None:
    today = clock().date()
    catalog.upsert_product(ctx, SUPPORT, FINANCE, "new offer", valid_from=date(2026, 1, 1))
    assert catalog.set_price(ctx, "SUP-STD", "eur", "100.00", date(2026, 1, 1), FINANCE)
    assert not catalog.set_price(ctx, "SUP-STD", "EUR", "100", date(2026, 1, 1), FINANCE)  # the same: kept once
    assert catalog.set_price(ctx, "SUP-STD", "EUR", "112.50", date(2027, 1, 1), FINANCE, "list price 2027")
    assert catalog.set_price(ctx, "SUP-STD", "EUR", "115.00", date(2027, 1, 1), FINANCE)  # not in force yet: replaced

    assert catalog.price_for(ctx, "SUP-STD", "EUR", today) == Decimal("100.00")
    assert catalog.price_for(ctx, "SUP-STD", "EUR", date(2027, 1, 1)) == Decimal("115.00")
    with pytest.raises(CatalogError) as caught:
        catalog.price_for(ctx, "SUP-STD", "EUR", date(2025, 12, 31))
    assert str(caught.value) == (
        "product SUP-STD: price has no price in EUR on 2025-12-31 (the first is valid from 2026-01-01)"
    )
    with pytest.raises(CatalogError, match="product SUP-STD: price has no price in USD"):
        catalog.price_for(ctx, "SUP-STD", "USD", today)
    with pytest.raises(CatalogError, match="price SUP-STD EUR: valid_from 2026-06-01 is past"):
        catalog.set_price(ctx, "SUP-STD", "EUR", "90", date(2026, 6, 1), FINANCE)
    with pytest.raises(CatalogError, match="price NOPE EUR: sku NOPE is not in the catalog"):
        catalog.set_price(ctx, "NOPE", "EUR", "90", None, FINANCE)
    prices = catalog.show_product(ctx, "SUP-STD")["prices"]  # type: ignore[index]
    assert [(p["valid_from"], p["unit_price"]) for p in prices] == [
        (date(2026, 1, 1), Decimal("100.00")),
        (date(2027, 1, 1), Decimal("115.00")),
    ]
    assert [a for a, sku, _, _ in _audit(ctx)].count("catalog.price_set") == 3

    assert catalog.set_rate(ctx, "consultant", "EUR", "150", date(2026, 1, 1), FINANCE)
    assert catalog.rate_for(ctx, "consultant", "EUR", today) == Decimal("150")


CATALOG = b"""
products:
  - sku: SUP-STD
    name: Standard support
    unit_code: MON
    gl_account: "4000"
    revenue_rule: ratable
    valid_from: 2026-01-01
    prices:
      - {currency: EUR, unit_price: 100.00, valid_from: 2026-01-01}
      - {currency: USD, unit_price: "120.00", valid_from: 2026-01-01}
  - {sku: IMPL, name: Implementation day, unit_code: DAY, valid_from: 2026-01-01}
rates:
  - {role: consultant, currency: EUR, hourly_rate: 150, valid_from: 2026-01-01}
"""


def test_a_catalog_file_is_imported_all_or_nothing(ctx: AppContext) -> None:
    report = catalog.import_catalog(ctx, CATALOG, "catalog.yaml", FINANCE)
    assert (report.products_added, report.prices_set, report.rates_set) == (2, 2, 1)
    again = catalog.import_catalog(ctx, CATALOG, "catalog.yaml", FINANCE)
    assert (again.products_added, again.products_unchanged, again.prices_set, again.rates_set) == (0, 2, 0, 0)

    # one row the stored catalog refuses (a past day's price changed) and nothing of the file is kept
    changed = CATALOG.replace(
        b"name: Implementation day, unit_code: DAY, valid_from: 2026-01-01",
        b"name: Implementation days, unit_code: DAY, valid_from: 2027-01-01",
    ).replace(b"unit_price: 100.00, valid_from: 2026-01-01", b"unit_price: 99.00, valid_from: 2026-01-01")
    before = (_count(ctx, schema.product_versions), _count(ctx, schema.price_list_entries), len(_audit(ctx)))
    with pytest.raises(CatalogFileError) as caught:
        catalog.import_catalog(ctx, changed, "catalog.yaml", FINANCE)
    assert caught.value.problems == [
        "products[1].prices[1]: price SUP-STD EUR: valid_from 2026-01-01 is past and a value was in force then: "
        "a change never rewrites history (make it valid from today or later)"
    ]
    assert (_count(ctx, schema.product_versions), _count(ctx, schema.price_list_entries), len(_audit(ctx))) == before
    assert catalog.product_as_of(ctx, "IMPL", date(2027, 1, 1)).name == "Implementation day"

    # a file with a bad row: nothing stored either
    bad_csv = b"sku,name,unit_code\nNEW-1,New one,C62\nNEW-2,Bad,QQQ\n"
    with pytest.raises(CatalogFileError, match="row 3: unit_code 'QQQ' is not a UN/ECE Rec 20 unit code"):
        catalog.import_catalog(ctx, bad_csv, "more.csv", FINANCE)
    assert catalog.show_product(ctx, "NEW-1") is None


def test_crm_products_sync_keeps_what_finance_owns(ctx: AppContext, clock: Clock) -> None:
    catalog.upsert_product(
        ctx, Product("CONS-H", "Consulting", "HUR", "standard", "4200", "point_in_time"), FINANCE, "set up"
    )
    catalog.set_price(ctx, "CONS-H", "EUR", "150", None, FINANCE)
    crm = from_pipedrive(
        {
            "id": 5,
            "name": "Consulting hour",
            "code": "CONS-H",
            "unit": "hour",
            "active_flag": True,
            "prices": [{"currency": "EUR", "price": 150}, {"currency": "USD", "price": Decimal("165.50")}],
        }
    )
    new = from_pipedrive({"id": 6, "name": "Onboarding", "code": "ONB", "prices": [{"currency": "EUR", "price": 900}]})
    report = catalog.sync_products(ctx, "pipedrive", [crm, new])
    assert (report.added, report.changed, report.unchanged, report.prices_set) == (["ONB"], ["CONS-H"], [], 2)
    synced = catalog.show_product(ctx, "CONS-H")
    assert synced is not None
    assert (synced["name"], synced["gl_account"], synced["version"], synced["source"], synced["external_id"]) == (
        "Consulting hour",
        "4200",  # the ledger account is finance's: the CRM does not know it
        2,
        "pipedrive",
        "5",
    )
    assert catalog.price_for(ctx, "CONS-H", "USD", clock().date()) == Decimal("165.50")
    again = catalog.sync_products(ctx, "pipedrive", [crm, new])
    assert (again.unchanged, again.prices_set) == (["CONS-H", "ONB"], 0)
    assert ("catalog.product_changed", "CONS-H", "sync:pipedrive", "synced from pipedrive") in _audit(ctx)

    broken = from_pipedrive({"id": 7, "name": "Bad", "code": "BAD", "unit": "HUR", "prices": []})
    bad = type(broken)(broken.source, broken.external_id, "BAD", {**broken.fields, "tax_category": "luxury"}, ())
    with pytest.raises(CatalogError, match="pipedrive product 7: product BAD: tax_category 'luxury'"):
        catalog.sync_products(ctx, "pipedrive", [new, bad])
    assert catalog.show_product(ctx, "BAD") is None
    with pytest.raises(CatalogError, match="sync: source 'zoho' is not one of"):
        catalog.sync_products(ctx, "zoho", [])
