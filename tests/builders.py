"""Builders shared by the tests: deals, deal events, and issued invoices made through the real flow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent, DealInput
from handoff.deals.formats.files import DealRow, deal_input
from handoff.deals.service.intake import ingest
from handoff.invoicing.domain.invoices import Invoice
from handoff.invoicing.service.issuing import issue_all_drafts

GOOD: dict[str, str] = {
    "deal_id": "D-1",
    "deal_name": "Kestrel Labs — Platform licence",
    "stage": "closedwon",
    "close_date": "2026-10-30",
    "amount": "12000.00",
    "currency": "EUR",
    "customer_id": "C-1",
    "customer_legal_name": "Kestrel Labs GmbH",
    "customer_type": "business",
    "country": "DE",
    "vat_id": "DE136695976",
    "po_number": "PO-1",
    "requires_po": "true",
    "billing_email": "ap@kestrel.de",
    "billing_contact_name": "Anna Müller",
    "billing_street": "Hauptstraße 1",
    "billing_city": "Berlin",
    "billing_postal_code": "10115",
    "payment_terms": "net30",
    "legal_entity": "ACME-DE",
    "owner_email": "anna@acme.example",
}


# US billing addresses (US sales tax follows the customer's state, ZIP code and city): Austin, TX
# (6.25 % state + 2 % local in the bundled rate table), and Oregon, which has no sales tax.
AUSTIN: dict[str, str] = {"billing_state": "TX", "billing_city": "Austin", "billing_postal_code": "78701"}
OREGON: dict[str, str] = {"billing_state": "OR", "billing_city": "Portland", "billing_postal_code": "97201"}


def deal(**changes: Any) -> DealInput:
    return DealInput.from_mapping({**GOOD, **changes})


def line(
    description: str = "Platform licence", quantity: str = "1", unit_price: str = "4000.00", **more: Any
) -> dict[str, Any]:
    """A deal line as a JSON deal file writes it (`more`: tax_category, supply, currency, ...)."""
    return {"description": description, "quantity": quantity, "unit_price": unit_price, **more}


def deal_with_lines(lines: Sequence[Mapping[str, Any]], **changes: Any) -> DealInput:
    """A deal with lines, read the way a JSON deal file's deal is (GOOD's amount is 3 x 4,000.00)."""
    return deal_input("test.json", DealRow(1, {**GOOD, **changes, "lines": [dict(x) for x in lines]}))


def event(event_id: str, at: datetime, source: str = "crm", **changes: Any) -> DealEvent:
    return DealEvent(source, event_id, at, deal(**changes))


def issued_invoices(
    ctx: AppContext,
    events: Sequence[DealEvent],
    *,
    on: date | None = None,
    actor: str = "finance@test",
    batch: int = 200,
) -> list[Invoice]:
    """Import these deal events and issue every draft they make (dated `on`, default today)."""
    ingest(ctx, events)
    return issue_all_drafts(ctx, actor, on=on, batch=batch)


def by_deal(invoices: Sequence[Invoice]) -> dict[str, Invoice]:
    """Issued invoices by the deal each bills (one deal per invoice)."""
    return {inv.order_refs[0]: inv for inv in invoices}


def owner_user(ctx: AppContext, email: str = "anna@acme.example") -> None:
    """A deal owner as an active sales user: a deal's exceptions go to its owner only then (else to finance)."""
    from handoff.users.service import Role, add_user

    add_user(ctx, email, Role.SALES, "plover quartz ember 1987", actor="test")
