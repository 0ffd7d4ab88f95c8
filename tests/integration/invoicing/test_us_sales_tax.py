"""US sales tax through the real flow with the built-in rate table, on SQLite and PostgreSQL
(issue 16, item 9): the US entity's customer in Austin, TX pays 8.25 % (6.25 % state + 2 % local);
a US customer needs a state and ZIP code (a readiness problem naming the field); an address the
rate table does not know waits in the exception queue with the reason, and no invoice at 0."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.service import tax_holds
from handoff.deals.service.orders import update_fields
from handoff.invoicing.documents import DocumentError, render
from handoff.invoicing.service.issuing import issue_all_drafts
from handoff.kernel.storage import schema
from tests.builders import AUSTIN, event, issued_invoices, owner_user
from tests.conftest import Clock

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
US = {
    "country": "US",
    "vat_id": "",
    "legal_entity": "ACME-US",
    "currency": "USD",
    "customer_legal_name": "Lone Star Inc.",
}


def order(ctx: AppContext, deal_id: str = "D-1") -> Any:
    with ctx.engine.connect() as conn:
        return conn.execute(select(schema.orders).where(schema.orders.c.deal_id == deal_id)).one()


def exception(ctx: AppContext, deal_id: str = "D-1") -> Any:
    with ctx.engine.connect() as conn:
        return conn.execute(
            select(schema.exceptions).where(
                schema.exceptions.c.deal_id == deal_id, schema.exceptions.c.status == "open"
            )
        ).one()


def invoices_of(ctx: AppContext, deal_id: str = "D-1") -> list[Any]:
    inv, link = schema.invoices, schema.invoice_orders
    with ctx.engine.connect() as conn:
        return conn.execute(
            select(inv)
            .join(link, link.c.invoice_id == inv.c.id)
            .join(schema.orders, schema.orders.c.id == link.c.order_id)
            .where(schema.orders.c.deal_id == deal_id)
        ).all()


def test_an_austin_customer_of_the_us_entity_pays_texas_and_local_sales_tax(ctx: AppContext) -> None:
    [invoice] = issued_invoices(ctx, [event("e1", T0, **US, **AUSTIN)], on=date(2026, 11, 2))
    assert invoice.number == "INV-US-2026-000001"
    assert (invoice.totals.tax_exclusive, invoice.totals.tax, invoice.totals.tax_inclusive) == (
        Decimal("12000.00"),
        Decimal("990.00"),
        Decimal("12990.00"),
    )
    tax = invoice.lines[0].tax
    assert (tax.category, tax.rate, tax.rule, tax.place_of_supply) == ("S", Decimal("8.25"), "us_sales_tax", "US-TX")
    assert [(j.level, j.rate) for j in tax.jurisdictions] == [
        ("state", Decimal("6.25")),
        ("city", Decimal("1.00")),
        ("district", Decimal("1.00")),
    ]
    assert invoice.buyer.address.region == "TX" and invoice.notes == ()  # no "not subject to VAT" left over
    [row] = invoices_of(ctx)
    assert (row.tax_amount, row.gross_amount) == (Decimal("990.00"), Decimal("12990.00"))

    # the PDF says sales tax, line by line and with what the rate is made of; the XML e-invoices are EU formats
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(render(invoice, "pdf"))).pages)
    assert "Sales tax breakdown" in text and "S 8.25%" in text and "Austin, TX 78701" in text
    assert "City of Austin (city) 1 %" in text and "Total with tax" in text
    with pytest.raises(DocumentError, match="carries US sales tax: ubl is an EN 16931"):
        render(invoice, "ubl")


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({}, "billing_state", "missing"),
        ({"billing_state": "Texas", "billing_postal_code": ""}, "billing_postal_code", "missing"),
        ({"billing_state": "Tejas", "billing_postal_code": "78701"}, "billing_state", "invalid"),
        ({"billing_state": "TX", "billing_postal_code": "7870"}, "billing_postal_code", "invalid"),
    ],
)
def test_a_us_customer_needs_a_state_and_zip_code(
    ctx: AppContext, changes: dict[str, str], field: str, code: str
) -> None:
    issued_invoices(ctx, [event("e1", T0, **US, **changes)])
    assert order(ctx).state == "blocked" and invoices_of(ctx) == []
    assert [(p["field"], p["code"]) for p in exception(ctx).problems if p["field"] != "owner_email"] == [(field, code)]


def test_an_address_the_rate_table_does_not_know_waits_with_the_reason_and_is_drafted_once_fixed(
    ctx: AppContext, clock: Clock
) -> None:
    houston = {"billing_state": "TX", "billing_city": "Houston", "billing_postal_code": "77002"}
    owner_user(ctx)
    issued_invoices(ctx, [event("e1", T0, **US, **houston)])
    assert order(ctx).state == "blocked" and invoices_of(ctx) == []  # never an invoice at 0
    held = exception(ctx)
    [problem] = [p for p in held.problems if p["code"] == "tax_undetermined"]
    assert (problem["code"], problem["field"]) == ("tax_undetermined", "tax.jurisdiction")
    assert "Houston, TX 77002" in problem["message"] and held.owner == "anna@acme.example"
    assert tax_holds.held(ctx) == ["D-1"] and tax_holds.held(ctx, engine_only=True) == []

    clock.advance(minutes=10)  # the customer was in Austin after all: sales corrects the address
    update_fields(ctx, "D-1", AUSTIN, "anna@acme.example")
    assert order(ctx).state == "drafted" and tax_holds.held(ctx) == []
    [invoice] = issue_all_drafts(ctx, "finance@test")
    assert invoice.totals.tax == Decimal("990.00")


def test_a_state_without_sales_tax_is_zero_by_its_rule(ctx: AppContext) -> None:
    portland = {"billing_state": "OR", "billing_city": "Portland", "billing_postal_code": "97201"}
    [invoice] = issued_invoices(ctx, [event("e1", T0, **US, **portland)])
    tax = invoice.lines[0].tax
    assert (invoice.totals.tax, tax.rule, tax.note) == (
        Decimal("0.00"),
        "us_no_sales_tax",
        "No US sales tax: Oregon levies no sales tax",
    )


def test_the_us_entitys_customer_abroad_pays_no_us_sales_tax_by_rule(ctx: AppContext) -> None:
    canada = {**US, "country": "CA", "billing_city": "Toronto", "billing_postal_code": "M5H 2N2"}
    [invoice] = issued_invoices(ctx, [event("e1", T0, **canada)])
    assert (invoice.totals.tax, invoice.lines[0].tax.rule) == (Decimal("0.00"), "outside_scope")
