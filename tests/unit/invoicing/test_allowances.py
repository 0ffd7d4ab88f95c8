"""Discounts as EN 16931 allowances: a line's discount is a line allowance (BG-27) that lowers the
line net amount (BT-131, BR-LIN-04); a deal's discount is a document-level allowance (BG-20) per
VAT category and rate, split in proportion to their nets with the remainder on the last, so that
BT-107, BT-109 and the VAT breakdown (BR-CO-11, BR-CO-13, BR-S-08) follow. Credit notes of a
discounted invoice credit the discounted amounts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from handoff.deals.domain.orders import BillableLine, BillableOrder
from handoff.invoicing.domain.allowances import (
    DISCOUNT_CODE,
    Discount,
    DiscountError,
    DocumentAllowance,
    allocate,
    document_allowance_shares,
    parse_discount,
)
from handoff.invoicing.domain.invoices import (
    Invoice,
    InvoiceError,
    amend,
    consolidate,
    credit_note,
    draft_invoice,
    invoice_from_json,
    issue,
)
from handoff.invoicing.domain.tax import VatCategory
from handoff.kernel.encoding import to_jsonable
from tests.corpus import DE_BUYER, DE_SELLER, FR_BUYER, RATES, TERMS, order

ON = date(2026, 3, 2)
D = Decimal


def discounted(
    deal_id: str,
    lines: list[tuple[str, str, str, str, str, str]],
    discount: str = "",
    buyer=DE_BUYER,  # type: ignore[no-untyped-def]
) -> BillableOrder:
    """An order whose lines are (description, quantity, price, tax category, supply, discount)."""
    base = order(deal_id, buyer, "EUR", [ln[:5] for ln in lines])  # type: ignore[misc]
    billable = tuple(
        BillableLine(b.description, b.quantity, b.unit_price, b.tax_category, b.supply, parse_discount(ln[5]))
        for b, ln in zip(base.lines, lines, strict=True)
    )
    return BillableOrder(
        base.deal_id,
        base.name,
        base.currency,
        base.customer,
        base.legal_entity,
        base.payment_terms,
        base.po_number,
        base.owner_email,
        billable,
        parse_discount(discount),
    )


def draft(o: BillableOrder, **kw: object) -> Invoice:
    return draft_invoice(o, DE_SELLER, RATES, TERMS, **kw)  # type: ignore[arg-type]


LICENCE = ("Platform licence", "1", "4000.00", "standard", "services", "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10%", Discount(percentage=D("10"))),
        (" 12.5 % ", Discount(percentage=D("12.5"))),
        ("100%", Discount(percentage=D("100"))),
        ("500.00", Discount(amount=D("500.00"))),
        ("500", Discount(amount=D("500"))),
        ("0", Discount(amount=D("0"))),
        ("", None),
        ("  ", None),
    ],
)
def test_a_discount_is_a_percentage_or_an_amount(text: str, expected: Discount | None) -> None:
    assert parse_discount(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("abc", "neither a percentage"),
        ("10%%", "neither a percentage"),
        ("12,5%", "neither a percentage"),
        ("NaN", "neither a percentage"),
        ("-5%", "negative"),
        ("-1", "negative"),
        ("100.01%", "above 100"),
        ("500.005", "cents"),
        ("1e13", "out of range"),
    ],
)
def test_a_bad_discount_says_why(text: str, why: str) -> None:
    with pytest.raises(DiscountError, match=why):
        parse_discount(text)


def test_ten_percent_off_12000_of_lines_bills_10800_with_vat_on_10800() -> None:
    inv = draft(discounted("A-1", [LICENCE, LICENCE, LICENCE], "10%"))
    t = inv.totals
    assert (t.line_net, t.allowances, t.tax_exclusive, t.tax, t.tax_inclusive) == (
        D("12000.00"),
        D("1200.00"),
        D("10800.00"),
        D("2052.00"),
        D("12852.00"),
    )
    (allowance,) = inv.allowances
    assert allowance == DocumentAllowance(
        D("1200.00"), VatCategory.STANDARD, D("19"), D("12000.00"), D("10"), "Discount", DISCOUNT_CODE, "A-1"
    )
    assert [(b.taxable_amount, b.tax_amount) for b in inv.breakdown] == [(D("10800.00"), D("2052.00"))]


def test_a_line_discount_lowers_that_line_net() -> None:
    inv = draft(
        discounted(
            "A-2",
            [
                ("Seats", "2", "3000.00", "standard", "services", "10%"),
                ("Setup", "1", "4000.00", "standard", "services", "250.00"),
                LICENCE,
            ],
        )
    )
    first, second, third = inv.lines
    assert (first.net_amount, first.gross_amount, first.allowance_total) == (D("5400.00"), D("6000.00"), D("600.00"))
    (a,) = first.allowances
    assert (a.amount, a.base_amount, a.percentage, a.reason, a.reason_code) == (
        D("600.00"),
        D("6000.00"),
        D("10"),
        "Discount",
        "95",
    )
    (b,) = second.allowances
    assert (b.amount, b.base_amount, b.percentage, second.net_amount) == (D("250.00"), None, None, D("3750.00"))
    assert third.allowances == () and third.net_amount == D("4000.00")
    assert inv.allowances == ()
    assert (inv.totals.line_net, inv.totals.tax_exclusive, inv.totals.allowances) == (D("13150"), D("13150"), 0)


def test_a_zero_discount_makes_no_allowance() -> None:
    inv = draft(discounted("A-3", [(*LICENCE[:5], "0%")], "0.00"))
    assert inv.lines[0].allowances == () and inv.allowances == ()


def test_the_deal_discount_is_split_over_vat_categories_with_the_remainder_on_the_last() -> None:
    lines = [
        ("Licence", "1", "100.00", "standard", "services", ""),
        ("Book", "1", "100.00", "reduced", "goods", ""),
        ("Solar kit", "1", "100.00", "zero", "goods", ""),
    ]
    inv = draft(discounted("A-4", lines, "100.00"))
    # breakdown order: S 7 %, S 19 %, Z 0 %
    assert [(a.category, a.rate, a.amount, a.base_amount, a.percentage) for a in inv.allowances] == [
        ("S", D("7"), D("33.33"), None, None),
        ("S", D("19"), D("33.33"), None, None),
        ("Z", D("0"), D("33.34"), None, None),
    ]
    assert [(b.category, b.rate, b.taxable_amount, b.tax_amount) for b in inv.breakdown] == [
        ("S", D("7"), D("66.67"), D("4.67")),
        ("S", D("19"), D("66.67"), D("12.67")),
        ("Z", D("0"), D("66.66"), D("0.00")),
    ]
    assert (inv.totals.allowances, inv.totals.tax_exclusive) == (D("100.00"), D("200.00"))


def test_a_percentage_deal_discount_keeps_its_base_and_percentage_per_category() -> None:
    lines = [
        ("Licence", "1", "1000.00", "standard", "services", "5%"),
        ("Book", "3", "33.33", "reduced", "goods", ""),
    ]
    inv = draft(discounted("A-5", lines, "12.5%"))
    # bases after the line discount: 950.00 at 19 %, 99.99 at 7 %; 12.5 % of 1,049.99 = 131.25
    assert [(a.rate, a.amount, a.base_amount, a.percentage) for a in inv.allowances] == [
        (D("7"), D("12.50"), D("99.99"), D("12.5")),
        (D("19"), D("118.75"), D("950.00"), D("12.5")),
    ]
    assert inv.totals.allowances == D("131.25")
    assert sum((b.taxable_amount for b in inv.breakdown), D(0)) == inv.totals.tax_exclusive == D("918.74")


def test_allocate_rounds_to_the_cent_and_puts_the_remainder_on_the_last() -> None:
    assert allocate(D("100.00"), [D("1"), D("1"), D("1")]) == [D("33.33"), D("33.33"), D("33.34")]
    assert allocate(D("0.01"), [D("5"), D("5")]) == [D("0.01"), D("0.00")]
    assert allocate(D("10.00"), [D("3")]) == [D("10.00")]


def test_full_credit_note_of_a_discounted_invoice_credits_exactly_what_was_invoiced() -> None:
    lines = [
        ("Seats", "3", "1000.00", "standard", "services", "100.00"),
        ("Book", "2", "45.50", "reduced", "goods", "10%"),
    ]
    inv = issue(draft(discounted("A-6", lines, "7.5%")), "INV-DE-2026-000001", ON)
    cn = credit_note(inv, "cancelled")
    assert cn.totals == inv.totals
    assert cn.breakdown == inv.breakdown
    assert cn.allowances == inv.allowances
    assert [ln.allowances for ln in cn.lines] == [ln.allowances for ln in inv.lines]


def test_partial_credit_note_credits_the_discounted_amounts() -> None:
    inv = issue(draft(discounted("A-7", [(*LICENCE[:1], "3", *LICENCE[2:5], "10%")], "10%")), "INV-DE-2026-2", ON)
    # 3 x 4,000 less 10 % on the line = 10,800, less 10 % on the deal = 9,720
    assert inv.totals.tax_exclusive == D("9720.00")
    cn = credit_note(inv, "one seat returned", {1: D("1")})
    (line,) = cn.lines
    (la,) = line.allowances
    assert (line.net_amount, la.amount, la.base_amount) == (D("3600.00"), D("400.00"), D("4000.00"))
    (da,) = cn.allowances
    assert (da.amount, da.base_amount, da.percentage) == (D("360.00"), D("3600.00"), D("10"))
    assert (cn.totals.tax_exclusive, cn.totals.tax) == (D("3240.00"), D("615.60"))


def test_partial_credit_of_an_amount_discount_is_its_share() -> None:
    inv = issue(
        draft(discounted("A-8", [("Seats", "3", "1000.00", "standard", "services", "100.00")], "300.00")),
        "INV-DE-2026-3",
        ON,
    )
    cn = credit_note(inv, "one seat", {1: D("1")})
    assert cn.lines[0].allowances[0].amount == D("33.33")  # a third of 100.00
    assert cn.lines[0].net_amount == D("966.67")
    assert cn.allowances[0].amount == D("100.00")  # 300.00 x 966.67 / 2,900.00


def test_a_partial_invoice_bills_its_share_of_the_discounts() -> None:
    o = discounted("A-9", [("Seats", "4", "1000.00", "standard", "services", "200.00")], "10%")
    part = draft(o, quantities={1: D("1")})
    assert part.lines[0].allowances[0].amount == D("50.00")
    assert part.lines[0].net_amount == D("950.00")
    assert part.allowances[0].amount == D("95.00")
    amount_off = discounted("A-10", [("Seats", "4", "1000.00", "standard", "services", "")], "400.00")
    assert draft(amount_off, quantities={1: D("1")}).allowances[0].amount == D("100.00")


def test_consolidation_keeps_each_orders_discount_on_its_own_lines() -> None:
    a = discounted("K-1", [LICENCE], "10%", FR_BUYER)
    b = discounted("K-2", [LICENCE, LICENCE], "", FR_BUYER)
    c = discounted("K-3", [("Book", "2", "50.00", "reduced", "goods", "")], "5.00", FR_BUYER)
    inv = consolidate([a, b, c], DE_SELLER, RATES, TERMS)
    assert [(x.order_ref, x.category, x.amount, x.reason) for x in inv.allowances] == [
        ("K-1", "AE", D("400.00"), "Discount (order K-1)"),
        ("K-3", "K", D("5.00"), "Discount (order K-3)"),
    ]
    assert inv.totals.tax_exclusive == D("12000.00") + D("100.00") - D("405.00")


def test_an_allowance_needs_a_line_of_its_vat_category() -> None:
    inv = draft(discounted("A-11", [LICENCE], "10%"))
    stray = DocumentAllowance(D("1.00"), VatCategory.ZERO_RATED, D("0"), reason="Discount")
    with pytest.raises(InvoiceError, match="no line"):
        amend(inv, allowances=(*inv.allowances, stray))


def test_shares_of_the_document_discount_per_line_add_up_per_category() -> None:
    lines = [
        ("Seats", "1", "200.00", "standard", "services", ""),
        ("Setup", "1", "100.00", "standard", "services", ""),
        ("Book", "1", "100.00", "reduced", "goods", ""),
    ]
    inv = draft(discounted("A-12", lines, "10.00"))
    shares = document_allowance_shares(inv.lines, inv.allowances)
    assert shares == [D("5.00"), D("2.50"), D("2.50")]
    assert sum(shares, D(0)) == inv.totals.allowances


def test_a_discounted_invoice_is_stored_and_read_back_whole_and_older_documents_still_read() -> None:
    inv = issue(draft(discounted("A-13", [(*LICENCE[:5], "5%")], "100.00")), "INV-DE-2026-4", ON)
    assert invoice_from_json(to_jsonable(inv)) == inv
    plain = issue(draft(discounted("A-14", [LICENCE])), "INV-DE-2026-5", ON)
    old = to_jsonable(plain)
    del old["allowances"], old["totals"]["allowances"]
    for ln in old["lines"]:
        del ln["allowances"]
    assert invoice_from_json(old) == plain
