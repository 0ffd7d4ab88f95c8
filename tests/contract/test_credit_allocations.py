"""Credit settling invoices, pushed to accounting: Xero gets each allocation on its credit note
(`PUT /CreditNotes/{CreditNoteID}/Allocations`, checked against Xero's OpenAPI description) and a
refund as a payment on the credit note, exactly once under faults; QuickBooks gets a zero payment
linking the credit memo and the invoice; the generic REST endpoint an allocation event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handoff.accounting.connectors.generic_rest import GenericRestChannel
from handoff.accounting.connectors.quickbooks import QuickBooksChannel
from handoff.approvals import service as approvals
from handoff.cash.formats.payment_file import PaymentRow
from handoff.cash.service.payments import apply_payments
from handoff.context import AppContext
from handoff.invoicing.service import credits
from handoff.invoicing.service.issuing import issue_draft
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import StaticToken
from handoff.kernel.connectors.secrets import Secret
from handoff.notifications.channels.log import LogChannel
from handoff.worker.outbox import dead_letters
from tests.conftest import Clock
from tests.contract.specs import check_xero
from tests.contract.standin import Reply, Seen, StandIn
from tests.contract.test_slack_quickbooks_rest import QuickBooks
from tests.contract.test_xero import channel, drain, issue, with_targets
from tests.contract.xero_standin import XeroBooks

FINANCE = "finance@acme.example"


def credited(ctx: AppContext) -> tuple[str, str, str]:
    """Two invoices of one customer (14,280.00 each); the first half paid, then credited in full:
    7,140.00 settles it, 7,140.00 is credit; 5,000.00 of that goes to the second invoice and
    2,140.00 is refunded. (first invoice, second invoice, credit note)."""
    first, second = issue(ctx, 3)[0::2]  # customers C-0, C-1, C-0
    apply_payments(ctx, [PaymentRow(1, first, Decimal("7140.00"), date(2026, 11, 10), "bank", "p1")], "b", "import")
    asked = approvals.request_credit_note(ctx, first, "order cancelled", "sales.lead@acme.example")
    draft = approvals.approve(ctx, asked["id"], FINANCE)["result_invoice_id"]
    note = issue_draft(ctx, draft, FINANCE, on=date(2026, 11, 20)).number or ""
    credits.apply_credit(ctx, second, FINANCE, Decimal("5000.00"))
    credits.refund_credit(ctx, "C-0", "ACME-DE", "EUR", Decimal("2140.00"), FINANCE, reference="SEPA-77")
    return first, second, note


@pytest.fixture
def xero_books(oracles: Path) -> Iterator[tuple[XeroBooks, StandIn]]:
    books = XeroBooks()
    server = StandIn(books, check=lambda seen: check_xero(oracles, seen)).start()
    yield books, server
    server.stop()
    assert not server.violations, server.violations


def test_xero_allocations_and_refund_match_the_spec_and_happen_once(
    ctx: AppContext, clock: Clock, xero_books: tuple[XeroBooks, StandIn], tmp_path: Path
) -> None:
    books, server = xero_books
    ctx = with_targets(ctx, accounting=["xero"])
    first, second, note = credited(ctx)
    # the first allocation is stored by Xero and its answer lost; the retry finds it there
    server.fail("PUT", "/Allocations", "close_after")
    channels = {"xero": channel(ctx, server), "email": LogChannel(tmp_path / "m"), "log": LogChannel(tmp_path / "l")}
    drain(ctx, clock, channels)
    drain(ctx, clock, channels)
    ids = {i["InvoiceNumber"]: i["InvoiceID"] for i in books.invoices}
    [credit_note] = books.credit_notes
    assert credit_note["CreditNoteNumber"] == note
    assert sorted((a["Invoice"]["InvoiceID"], a["Amount"], a["Date"]) for a in credit_note["Allocations"]) == sorted(
        [(ids[first], 7140.0, "2026-11-20"), (ids[second], 5000.0, "2026-11-02")]
    )
    puts = [s for s in server.seen if s.method == "PUT" and s.path.endswith("/Allocations")]
    assert {p.path for p in puts} == {f"/api.xro/2.0/CreditNotes/{credit_note['CreditNoteID']}/Allocations"}
    keys = {tuple(p.headers["idempotency-key"].split(":")[:3]) for p in puts}  # the outbox key
    assert keys == {("xero", "credit_allocation", "corrected"), ("xero", "credit_allocation", "applied")}
    [refund] = [p for p in books.payments if "CreditNote" in p]
    assert refund["CreditNote"] == {"CreditNoteID": credit_note["CreditNoteID"]}
    assert (refund["Amount"], refund["Account"], refund["Date"]) == (2140.0, {"Code": "090"}, "2026-11-02")
    assert refund["Reference"].startswith("handoff refund:")
    assert not dead_letters(ctx)


def test_quickbooks_applies_the_credit_memo_with_a_zero_payment(ctx: AppContext, clock: Clock, tmp_path: Path) -> None:
    books = QuickBooks()
    server = StandIn(books).start()
    http = make_client(server.url, timeout=1.0)
    try:
        ctx = with_targets(ctx, accounting=["quickbooks"])
        first, second, note = credited(ctx)
        sender = HttpSender(http, "quickbooks", sleep=lambda s: None)
        qb = QuickBooksChannel(sender, StaticToken(Secret("qb-token")), "9130")
        drain(ctx, clock, {"quickbooks": qb, "email": LogChannel(tmp_path / "m"), "log": LogChannel(tmp_path / "l")})
    finally:
        http.close()
        server.stop()
    ids = {i["DocNumber"]: i["Id"] for i in books.entities["Invoice"]}
    [memo] = books.entities["CreditMemo"]
    linking = [p for p in books.entities["Payment"] if p["TotalAmt"] == 0]
    assert sorted(
        [(ln["Amount"], ln["LinkedTxn"][0]["TxnType"], ln["LinkedTxn"][0]["TxnId"]) for ln in p["Line"]]
        for p in linking
    ) == [
        [(5000.0, "Invoice", ids[second]), (5000.0, "CreditMemo", memo["Id"])],
        [(7140.0, "Invoice", ids[first]), (7140.0, "CreditMemo", memo["Id"])],
    ]
    # QuickBooks' API cannot refund a credit memo: the refund waits, named, for an operator
    [dead] = dead_letters(ctx)
    assert dead["channel"] == "quickbooks" and f"credit memo {note}" in dead["last_error"]


def test_generic_rest_gets_allocation_and_refund_events(ctx: AppContext, clock: Clock, tmp_path: Path) -> None:
    received: list[tuple[str, Any]] = []

    def ledger(seen: Seen) -> Reply:
        if seen.method == "GET":
            return 404, {}, {"error": "not found"}
        received.append((seen.path, seen.json()))
        return 201, {}, {}

    server = StandIn(ledger).start()
    http = make_client(server.url, timeout=1.0)
    try:
        ctx = with_targets(ctx, accounting=["generic_rest"])
        first, second, note = credited(ctx)
        rest = GenericRestChannel(HttpSender(http, "accounting", sleep=lambda s: None))
        drain(
            ctx, clock, {"generic_rest": rest, "email": LogChannel(tmp_path / "m"), "log": LogChannel(tmp_path / "l")}
        )
    finally:
        http.close()
        server.stop()
    events = sorted((body["invoice_number"], body["amount"]) for path, body in received if path == "/allocations")
    assert events == sorted([(first, "7140.00"), (second, "5000.00")])
    [(_, refund)] = [(p, b) for p, b in received if p == "/refunds"]
    assert (refund["credit_note_number"], refund["amount"], refund["reference"]) == (note, "2140.00", "SEPA-77")
