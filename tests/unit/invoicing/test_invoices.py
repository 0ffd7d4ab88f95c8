"""Invoice building: EN 16931 rounding, partial and consolidated invoices, credit notes, the
accounting-currency VAT (BT-111) and immutability of issued invoices."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from handoff.invoicing.domain.invoices import (
    DocumentStatus,
    ImmutableInvoiceError,
    InvoiceError,
    InvoiceKind,
    amend,
    billed_quantities,
    consolidate,
    credit_note,
    credit_quantities,
    draft_invoice,
    issue,
    make_line,
    void,
)
from tests.corpus import DE_BUYER, DE_SELLER, FR_BUYER, HARDWARE, RATES, SAAS, SEATS, TERMS, US_BUYER, order

ON = date(2026, 3, 2)


def test_line_and_category_rounding_follow_en16931() -> None:
    # 3 x 0.335 = 1.005 -> 1.01 per line (half away from zero); VAT rounded once per category.
    inv = draft_invoice(
        order(
            "R-1",
            DE_BUYER,
            "EUR",
            [("a", "3", "0.335", "standard", "services"), ("b", "1", "0.10", "standard", "services")],
        ),
        DE_SELLER,
        RATES,
        TERMS,
    )
    assert [ln.net_amount for ln in inv.lines] == [Decimal("1.01"), Decimal("0.10")]
    (vat,) = inv.breakdown
    assert vat.taxable_amount == Decimal("1.11") and vat.tax_amount == Decimal("0.21")  # 0.2109
    assert inv.totals.tax_inclusive == Decimal("1.32") == inv.totals.payable


def test_partial_invoice_bills_delivered_quantities_and_refuses_over_billing() -> None:
    big = order("P-1", DE_BUYER, "EUR", [HARDWARE, SEATS])
    first = issue(draft_invoice(big, DE_SELLER, RATES, TERMS, quantities={1: Decimal("4")}), "INV-DE-2026-000100", ON)
    assert [(ln.order_line, ln.quantity) for ln in first.lines] == [(1, Decimal("4"))]
    assert first.totals.line_net == Decimal("519.96")
    billed = billed_quantities("P-1", [first])
    assert billed == {1: Decimal("4")}
    second = draft_invoice(
        big, DE_SELLER, RATES, TERMS, quantities={1: Decimal("6"), 2: Decimal("15")}, already_billed=billed
    )
    assert [ln.line_no for ln in second.lines] == [1, 2]
    with pytest.raises(InvoiceError, match="only 6 of 10"):
        draft_invoice(big, DE_SELLER, RATES, TERMS, quantities={1: Decimal("7")}, already_billed=billed)
    with pytest.raises(InvoiceError, match="no line 3"):
        draft_invoice(big, DE_SELLER, RATES, TERMS, quantities={3: Decimal("1")})
    with pytest.raises(InvoiceError, match="nothing to bill"):
        draft_invoice(big, DE_SELLER, RATES, TERMS, quantities={1: Decimal("0")})


def test_consolidated_invoice_joins_orders_of_one_customer() -> None:
    a, b = (
        order("K-1", FR_BUYER, "EUR", [SAAS], po="PO-A"),
        order("K-2", FR_BUYER, "EUR", [SEATS, HARDWARE], po="PO-B"),
    )
    inv = consolidate([a, b], DE_SELLER, RATES, TERMS)
    assert inv.order_refs == ("K-1", "K-2")
    assert [(ln.line_no, ln.order_ref) for ln in inv.lines] == [(1, "K-1"), (2, "K-2"), (3, "K-2")]
    assert inv.po_number == "" and inv.lines[1].note == "Order K-2, PO PO-B"
    assert {b.category for b in inv.breakdown} == {"AE", "K"}
    assert inv.totals.line_net == Decimal("12000") + Decimal("748.50") + Decimal("1299.90")
    with pytest.raises(InvoiceError, match="different currency"):
        consolidate([a, order("K-3", FR_BUYER, "USD", [SAAS])], DE_SELLER, RATES, TERMS)
    with pytest.raises(InvoiceError, match="different customers"):
        consolidate([a, order("K-4", DE_BUYER, "EUR", [SAAS])], DE_SELLER, RATES, TERMS)
    with pytest.raises(InvoiceError, match="twice"):
        consolidate([a, a], DE_SELLER, RATES, TERMS)


def test_credit_notes_reference_the_invoice_and_credit_all_or_part() -> None:
    inv = issue(
        draft_invoice(order("C-1", DE_BUYER, "EUR", [SAAS, SEATS]), DE_SELLER, RATES, TERMS),
        "INV-DE-2026-000200",
        ON,
    )
    full = credit_note(inv, "cancelled")
    assert full.kind is InvoiceKind.CREDIT_NOTE and full.corrects == inv.number
    assert full.corrects_issue_date == ON and full.totals == inv.totals
    part = credit_note(inv, "5 seats unused", {2: Decimal("5")})
    assert [(ln.description, ln.quantity) for ln in part.lines] == [("Additional seats", Decimal("5"))]
    assert part.totals.tax_inclusive == Decimal("296.91")  # 249.50 + 47.41 VAT
    issued_part = issue(part, "CN-DE-2026-000001", ON)
    assert billed_quantities("C-1", [inv, issued_part]) == {1: Decimal("1"), 2: Decimal("10")}
    with pytest.raises(InvoiceError, match="cannot credit 16"):
        credit_note(inv, "", {2: Decimal("16")})
    with pytest.raises(InvoiceError, match="only an issued invoice"):
        credit_note(full, "")
    with pytest.raises(InvoiceError, match="must reference"):
        replace(full, corrects=None)


def test_credits_of_one_invoice_never_exceed_what_it_invoiced() -> None:
    inv = issue(
        draft_invoice(order("C-1", DE_BUYER, "EUR", [SAAS, SEATS]), DE_SELLER, RATES, TERMS), "INV-DE-2026-000201", ON
    )
    assert credit_quantities(inv, None) == {1: Decimal("1"), 2: Decimal("15")}
    earlier = [{2: Decimal("5")}, {2: Decimal("4")}]
    assert credit_quantities(inv, None, earlier) == {1: Decimal("1"), 2: Decimal("6")}  # "all" means the rest
    assert credit_quantities(inv, {2: Decimal("6")}, earlier) == {2: Decimal("6")}
    with pytest.raises(InvoiceError, match="line 2: crediting 7 but only 6 is left uncredited"):
        credit_quantities(inv, {2: Decimal("7")}, earlier)
    with pytest.raises(InvoiceError, match="already fully credited"):
        credit_quantities(inv, None, [{1: Decimal("1"), 2: Decimal("15")}])
    with pytest.raises(InvoiceError, match="has no line 3"):
        credit_quantities(inv, {3: Decimal("1")})
    with pytest.raises(InvoiceError, match="nothing to credit"):
        credit_quantities(inv, {1: Decimal("0")})


def test_issued_invoices_are_immutable() -> None:
    draft = draft_invoice(order("I-1", DE_BUYER, "EUR", [SAAS]), DE_SELLER, RATES, TERMS)
    amended = amend(
        draft,
        po_number="PO-9",
        lines=(*draft.lines, make_line(2, "Extra", Decimal("1"), Decimal("10"), draft.lines[0].tax)),
    )
    assert amended.po_number == "PO-9" and amended.totals.line_net == Decimal("12010")
    issued = issue(amended, "INV-DE-2026-000300", ON)
    with pytest.raises(ImmutableInvoiceError):
        amend(issued, po_number="PO-10")
    with pytest.raises(ImmutableInvoiceError):
        issue(issued, "INV-DE-2026-000301", ON)
    with pytest.raises(ImmutableInvoiceError):
        void(issued)
    # Changing an issued invoice's lines without consistent totals is refused outright.
    with pytest.raises(InvoiceError, match="does not follow"):
        replace(
            issued,
            lines=(issued.lines[0], replace(issued.lines[1], quantity=Decimal(2), net_amount=Decimal(20))),
        )
    assert void(draft).status is DocumentStatus.VOID


def test_vat_in_accounting_currency_when_invoicing_in_another_currency() -> None:
    draft = draft_invoice(order("X-1", DE_BUYER, "USD", [SAAS]), DE_SELLER, RATES, TERMS)
    assert draft.tax_currency == "EUR" and draft.tax_in_tax_currency is None
    with pytest.raises(InvoiceError, match="exchange rate"):
        issue(draft, "INV-DE-2026-000400", ON)
    issued = issue(draft, "INV-DE-2026-000400", ON, Decimal("0.9214"))
    assert issued.totals.tax == Decimal("2280.00")
    assert issued.tax_in_tax_currency == Decimal("2100.79")  # 2280 x 0.9214 = 2100.792
    same = draft_invoice(order("X-2", US_BUYER, "EUR", [HARDWARE]), DE_SELLER, RATES, TERMS)
    assert same.tax_currency == "" and same.exchange_rate is None
    with pytest.raises(InvoiceError, match="positive"):
        draft_invoice(order("X-3", DE_BUYER, "USD", [SAAS]), DE_SELLER, RATES, TERMS, exchange_rate=Decimal("0"))
