"""Accounting mappings per selling entity and VAT category (issue 16, item 10): an invoice of one
entity with a reduced-rate and a reverse-charge line posts the account codes, items and tax codes
mapped in `connectors.xero` / `connectors.quickbooks`, to that entity's Xero tenant / QuickBooks
realm; Xero requests are checked against Xero's published OpenAPI description."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from handoff.accounting.connectors.quickbooks import QuickBooksChannel
from handoff.accounting.connectors.xero import XeroChannel
from handoff.accounting.service import document
from handoff.cash.formats.payment_file import PaymentRow
from handoff.cash.service.payments import apply_payments
from handoff.config import QuickBooksModel, XeroModel
from handoff.context import AppContext
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import StaticToken
from handoff.kernel.connectors.secrets import Secret
from handoff.notifications.channels.log import LogChannel
from tests.builders import event, issued_invoices
from tests.conftest import Clock
from tests.contract.standin import StandIn
from tests.contract.test_slack_quickbooks_rest import QuickBooks
from tests.contract.test_xero import T0, channel, drain, issue, with_targets
from tests.contract.xero_standin import XeroBooks

XERO = XeroModel.model_validate(
    {
        "entities": {
            "ACME-DE": {
                "tenant_id": "tenant-de",
                "payment_account_code": "091",
                "account_codes": {"S:7": "4300", "AE": "4336"},
                "tax_types": {"S:7": "OUTPUT3", "AE": "REVERSECHARGES"},
            }
        }
    }
)
QBO = QuickBooksModel.model_validate(
    {
        "entities": {
            "ACME-DE": {
                "realm_id": "realm-de",
                "item_ids": {"S:7": "17", "AE": "33"},
                "tax_codes": {"S:7": "7", "AE": "NON"},
            }
        }
    }
)


def mixed_document(ctx: AppContext) -> dict[str, Any]:
    """A real issued invoice of ACME-DE, its payload given a reduced-rate and a reverse-charge line."""
    (inv,) = issued_invoices(ctx, [event("e1", T0)], actor="finance@acme.example")
    doc = document(inv)
    assert doc["seller"]["code"] == "ACME-DE"
    reduced, reverse = copy.deepcopy(doc["lines"][0]), copy.deepcopy(doc["lines"][0])
    reduced |= {"description": "Handbook", "vat_category": "S", "vat_rate": "7.00"}
    reverse |= {"description": "Consulting", "vat_category": "AE", "vat_rate": "0.00"}
    doc["lines"] = [reduced, reverse]
    return doc


def test_xero_posts_the_mapped_accounts_and_tax_types_to_the_entitys_tenant(
    ctx: AppContext, xero: StandIn, xero_books: XeroBooks
) -> None:
    doc = mixed_document(ctx)
    with make_client(f"{xero.url}/api.xro/2.0", timeout=2.0) as http:
        channel = XeroChannel(
            HttpSender(http, "xero", sleep=lambda s: None), StaticToken(Secret("t")), "tenant-1", XERO
        )
        channel.deliver("xero:invoice:1", {"type": "invoice", "document": doc})
        channel.deliver(
            "xero:payment:1",
            {
                "type": "payment",
                "invoice_number": doc["number"],
                "payment_key": "p1",
                "amount": "10.00",
                "paid_on": "2026-11-05",
                "currency": "EUR",
                "seller": "ACME-DE",
            },
        )
    (posted,) = xero_books.invoices
    assert [(i["AccountCode"], i["TaxType"]) for i in posted["LineItems"]] == [
        ("4300", "OUTPUT3"),
        ("4336", "REVERSECHARGES"),
    ]
    assert {s.headers["xero-tenant-id"] for s in xero.seen if s.path.startswith("/api.xro")} == {"tenant-de"}
    payment = next(s for s in xero.seen if s.method == "PUT" and s.path.endswith("/Payments"))
    assert payment.json()["Payments"][0]["Account"] == {"Code": "091"}


def test_xero_without_mappings_posts_as_before(ctx: AppContext, xero: StandIn, xero_books: XeroBooks) -> None:
    doc = mixed_document(ctx)
    with make_client(f"{xero.url}/api.xro/2.0", timeout=2.0) as http:
        channel = XeroChannel(HttpSender(http, "xero", sleep=lambda s: None), StaticToken(Secret("t")), "tenant-1")
        channel.deliver("xero:invoice:1", {"type": "invoice", "document": doc})
    (posted,) = xero_books.invoices
    assert [(i["AccountCode"], i["TaxType"]) for i in posted["LineItems"]] == [
        ("200", "OUTPUT"),
        ("200", "ECOUTPUTSERVICES"),
    ]
    assert {s.headers["xero-tenant-id"] for s in xero.seen if s.path.startswith("/api.xro")} == {"tenant-1"}


def _quickbooks(doc: dict[str, Any], options: QuickBooksModel | None) -> tuple[QuickBooks, list[str]]:
    books = QuickBooks()
    server = StandIn(books).start()
    try:
        with make_client(server.url, timeout=2.0) as http:
            sender = HttpSender(http, "quickbooks", sleep=lambda s: None)
            channel = QuickBooksChannel(sender, StaticToken(Secret("qb-token")), "9130", options)
            channel.deliver("quickbooks:invoice:1", {"type": "invoice", "document": doc})
    finally:
        server.stop()
    return books, [s.path for s in server.seen]


def test_quickbooks_posts_the_mapped_items_and_tax_codes_to_the_entitys_realm(ctx: AppContext) -> None:
    books, paths = _quickbooks(mixed_document(ctx), QBO)
    (posted,) = books.entities["Invoice"]
    details = [ln["SalesItemLineDetail"] for ln in posted["Line"]]
    assert [(d["ItemRef"], d["TaxCodeRef"]) for d in details] == [
        ({"value": "17"}, {"value": "7"}),
        ({"value": "33"}, {"value": "NON"}),
    ]
    assert paths and all(p.startswith("/v3/company/realm-de/") for p in paths)


def test_quickbooks_without_mappings_posts_as_before(ctx: AppContext) -> None:
    books, paths = _quickbooks(mixed_document(ctx), None)
    (posted,) = books.entities["Invoice"]
    details = [ln["SalesItemLineDetail"] for ln in posted["Line"]]
    assert [d["ItemRef"] for d in details] == [{"value": "1"}, {"value": "1"}]
    assert all("TaxCodeRef" not in d for d in details)
    assert all(p.startswith("/v3/company/9130/") for p in paths)


def test_issued_and_paid_through_the_outbox_go_to_the_entitys_tenant(
    ctx: AppContext, clock: Clock, xero: StandIn, xero_books: XeroBooks, oracles: Path, tmp_path: Path
) -> None:
    ctx = with_targets(ctx, accounting=["xero"], xero=XERO)  # type: ignore[arg-type]
    (number,) = issue(ctx, 1)
    xero_books.access_token = ""  # this channel signs in with OAuth2
    xc = channel(ctx, xero)
    xc.options = XERO
    channels = {"xero": xc, "email": LogChannel(tmp_path / "m"), "log": LogChannel(tmp_path / "l")}
    drain(ctx, clock, channels)
    apply_payments(ctx, [PaymentRow(1, number, Decimal("100.00"), date(2026, 11, 20), "ref", "pay-1")], "b.csv", "f")
    drain(ctx, clock, channels)
    assert [p["Account"] for p in xero_books.payments] == [{"Code": "091"}]
    assert {s.headers["xero-tenant-id"] for s in xero.seen if s.path.startswith("/api.xro")} == {"tenant-de"}
