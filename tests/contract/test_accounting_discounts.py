"""Discounted invoices in accounting: what Xero and QuickBooks are sent adds up to the invoice's
net (BT-109) per VAT category, line discounts and the document discount included. Xero invoices
carry each line's discount as `DiscountAmount` (Xero credit notes take no discounts: their lines
are sent net, as `LineAmount`); QuickBooks lines are sent net of their discounts. Xero requests are
checked against Xero's published OpenAPI description."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from handoff.accounting.connectors.quickbooks import QuickBooksChannel
from handoff.accounting.connectors.xero import XeroChannel
from handoff.accounting.service import document
from handoff.invoicing.domain.invoices import Invoice, credit_note, draft_invoice, issue
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import StaticToken
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.money import round2
from tests.contract.standin import StandIn
from tests.contract.test_slack_quickbooks_rest import QuickBooks
from tests.contract.xero_standin import XeroBooks
from tests.corpus import DE_BUYER, DE_SELLER, RATES, TERMS
from tests.unit.invoicing.test_allowances import discounted

ON = date(2026, 3, 2)
LINES = [
    ("Seats", "3", "4000.00", "standard", "services", "10%"),
    ("Setup", "1", "999.99", "standard", "services", ""),
    ("Manuals", "7", "18.75", "reduced", "goods", "5.00"),
]


def invoice() -> Invoice:
    draft = draft_invoice(discounted("X-1", LINES, "333.33", DE_BUYER), DE_SELLER, RATES, TERMS)
    return issue(draft, "INV-DE-2026-000001", ON)


def by_category(doc: dict[str, Any], amounts: list[Decimal]) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for ln, value in zip(doc["lines"], amounts, strict=True):
        out[(ln["vat_category"], str(Decimal(ln["vat_rate"]).normalize()))] += value
    return dict(out)


def taxable(inv: Invoice) -> dict[tuple[str, str], Decimal]:
    return {(b.category.value, str(b.rate.normalize())): b.taxable_amount for b in inv.breakdown}


def test_the_payload_states_each_lines_discounts_and_its_amount_after_them() -> None:
    inv = invoice()
    doc = document(inv)
    assert [(ln["net_amount"], ln["line_discount"]) for ln in doc["lines"]] == [
        ("10800.00", "1200.00"),
        ("999.99", "0"),
        ("126.25", "5.00"),
    ]
    amounts = [Decimal(ln["amount"]) for ln in doc["lines"]]
    assert sum(amounts, Decimal(0)) == Decimal(doc["totals"]["net"]) == inv.totals.tax_exclusive
    assert by_category(doc, amounts) == taxable(inv)
    assert doc["totals"]["line_net"] == str(inv.totals.line_net)
    assert doc["totals"]["allowances"] == "333.33"
    shares = [(ln["vat_rate"], ln["document_discount"]) for ln in doc["lines"]]
    assert shares == [("19", "301.85"), ("19", "27.95"), ("7", "3.53")]  # 329.80 at 19 %, 3.53 at 7 %


def test_xero_gets_discount_amounts_on_invoices_and_net_lines_on_credit_notes(
    xero: StandIn, xero_books: XeroBooks
) -> None:
    inv = invoice()
    cn = issue(credit_note(inv, "cancelled"), "CN-DE-2026-000001", ON)
    # generous: the stand-in checks each request against Xero's OpenAPI document, slow on a busy machine
    with make_client(f"{xero.url}/api.xro/2.0", timeout=30.0) as http:
        channel = XeroChannel(HttpSender(http, "xero", sleep=lambda s: None), StaticToken(Secret("t")), "tenant-1")
        channel.deliver("xero:invoice:1", {"type": "invoice", "document": document(inv)})
        channel.deliver("xero:credit_note:1", {"type": "credit_note", "document": document(cn)})
    (posted,) = xero_books.invoices
    nets = [
        round2(Decimal(str(i["Quantity"])) * Decimal(str(i["UnitAmount"]))) - Decimal(str(i.get("DiscountAmount", 0)))
        for i in posted["LineItems"]
    ]
    assert by_category(document(inv), nets) == taxable(inv)
    # the line's own discount plus its share of the document discount (S 19 %: 329.80 over 10,800.00 and 999.99)
    assert [i.get("DiscountAmount") for i in posted["LineItems"]] == [1501.85, 27.95, 8.53]
    (credited,) = xero_books.credit_notes
    assert all("DiscountAmount" not in i and "DiscountRate" not in i for i in credited["LineItems"])
    credit_nets = [
        Decimal(str(i["LineAmount"]))
        if "LineAmount" in i
        else round2(Decimal(str(i["Quantity"])) * Decimal(str(i["UnitAmount"])))
        for i in credited["LineItems"]
    ]
    assert by_category(document(cn), credit_nets) == taxable(cn)


def test_quickbooks_gets_lines_net_of_their_discounts() -> None:
    inv = invoice()
    books = QuickBooks()
    server = StandIn(books).start()
    try:
        with make_client(server.url, timeout=30.0) as http:
            channel = QuickBooksChannel(
                HttpSender(http, "quickbooks", sleep=lambda s: None), StaticToken(Secret("qb-token")), "9130"
            )
            channel.deliver("quickbooks:invoice:1", {"type": "invoice", "document": document(inv)})
    finally:
        server.stop()
    (posted,) = books.entities["Invoice"]
    amounts = [Decimal(str(ln["Amount"])) for ln in posted["Line"]]
    assert by_category(document(inv), amounts) == taxable(inv)
    for ln in posted["Line"]:
        detail = ln["SalesItemLineDetail"]
        assert round2(Decimal(str(detail["Qty"])) * Decimal(str(detail["UnitPrice"]))) == Decimal(str(ln["Amount"]))
