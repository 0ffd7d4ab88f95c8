"""What a deal's new version bills differently from what its invoices bill (`domain.amendments`):
more or new is billed, a higher price as a price adjustment, less or gone is credited from the
lines that billed it, a lower price is credited at the old price and billed again at the new one;
earlier differences and credits count."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from handoff.deals.domain.orders import BillableLine
from handoff.invoicing.domain.allowances import parse_discount
from handoff.invoicing.domain.amendments import (
    Billed,
    BillLine,
    billed_lines,
    difference,
    difference_invoice,
)
from handoff.invoicing.domain.invoices import Invoice, InvoiceError, draft_invoice, issue
from tests.corpus import DE_BUYER, DE_SELLER, FR_BUYER, RATES, TERMS, order

D = Decimal
ON = date(2026, 3, 2)
LICENCES = ("Licences", "10", "100.00", "standard", "services")
ONBOARDING = ("Onboarding", "1", "500.00", "standard", "services")


def version(*lines: tuple[str, str, str, str, str], buyer=DE_BUYER, currency: str = "EUR") -> Invoice:  # type: ignore[no-untyped-def]
    """The new version of deal D-1, drafted as intake drafts it."""
    return draft_invoice(order("D-1", buyer, currency, list(lines)), DE_SELLER, RATES, TERMS)


def billed(
    invoice: Invoice,
    invoice_id: int,
    number: str | None = None,
    claimed: Mapping[int, Decimal] | None = None,
    raises: Mapping[int, Decimal] | None = None,
) -> list[Billed]:
    """`invoice` as issued with `number` (None: left a draft)."""
    doc = issue(invoice, number, ON) if number else invoice
    return billed_lines(invoice_id, doc, "D-1", claimed or {}, raises or {})


def first_invoice() -> list[Billed]:
    return billed(version(LICENCES, ONBOARDING), 1, "INV-1")


def test_nothing_changed_nothing_to_do() -> None:
    diff = difference(first_invoice(), version(LICENCES, ONBOARDING))
    assert diff.nothing and diff.bill_net == diff.credit_net == 0
    assert [(c.description, c.old_amount, c.new_amount, c.difference) for c in diff.changes] == [
        ("Licences", D("1000.00"), D("1000.00"), 0),
        ("Onboarding", D("500.00"), D("500.00"), 0),
    ]


def test_more_quantity_and_a_new_line_are_billed_at_the_new_price() -> None:
    new = version(
        ("Licences", "12", "100.00", "standard", "services"),
        ONBOARDING,
        ("Training", "2", "300.00", "standard", "services"),
    )
    diff = difference(first_invoice(), new)
    assert diff.to_bill == (BillLine(1, "Licences", D("2"), D("100.00")), BillLine(3, "Training", D("2"), D("300.00")))
    assert diff.to_credit == () and diff.bill_net == D("800.00")


def test_a_higher_price_is_billed_as_the_price_difference_only() -> None:
    diff = difference(first_invoice(), version(("Licences", "10", "120.00", "standard", "services"), ONBOARDING))
    assert diff.to_bill == (BillLine(1, "Licences", D("10"), D("20.00"), raises=D("100.00")),)
    assert diff.to_bill[0].note == "Price change from 100.00 to 120.00 per unit"
    assert diff.bill_net == D("200.00") and diff.to_credit == ()
    [licences, _] = diff.changes
    assert (licences.old_prices, licences.new_prices, licences.difference) == ((D("100.00"),), (D("120.00"),), 200)


def test_less_quantity_and_a_removed_line_are_credited_from_the_invoice_lines() -> None:
    diff = difference(first_invoice(), version(("Licences", "8", "100.00", "standard", "services")))
    assert diff.to_bill == ()
    assert [(c.number, c.line_no, c.quantity, c.net) for c in diff.to_credit] == [
        ("INV-1", 1, D("2"), D("200.00")),
        ("INV-1", 2, D("1"), D("500.00")),
    ]
    assert diff.credits_by_invoice() == {"INV-1": {1: D("2"), 2: D("1")}}
    assert diff.credit_net == D("700.00")


def test_a_lower_price_is_credited_at_the_old_price_and_billed_again_at_the_new() -> None:
    diff = difference(first_invoice(), version(("Licences", "10", "80.00", "standard", "services"), ONBOARDING))
    assert [(c.line_no, c.quantity, c.unit_price) for c in diff.to_credit] == [(1, D("10"), D("100.00"))]
    assert diff.to_bill == (BillLine(1, "Licences", D("10"), D("80.00")),)
    assert diff.bill_net - diff.credit_net == D("-200.00")


def test_a_price_adjustment_counts_as_the_raised_price_next_time() -> None:
    raised = version(("Licences", "10", "120.00", "standard", "services"), ONBOARDING)
    first = difference(first_invoice(), raised)
    adjustment = difference_invoice(raised, first.to_bill, "difference")
    done = first_invoice() + billed(adjustment, 2, "INV-2", raises={1: D("100.00")})
    assert difference(done, raised).nothing
    # eleven at 120: one more unit at the new price; nine at 120: one credited with its adjustment
    more = difference(done, version(("Licences", "11", "120.00", "standard", "services"), ONBOARDING))
    assert more.to_bill == (BillLine(1, "Licences", D("1"), D("120.00")),) and more.to_credit == ()
    less = difference(done, version(("Licences", "9", "120.00", "standard", "services"), ONBOARDING))
    assert [(c.number, c.line_no, c.quantity, c.net) for c in less.to_credit] == [
        ("INV-1", 1, D("1"), D("100.00")),
        ("INV-2", 1, D("1"), D("20.00")),
    ]


def test_the_newest_billing_is_credited_first_and_claimed_credits_count() -> None:
    twelve = version(("Licences", "12", "100.00", "standard", "services"), ONBOARDING)
    extra = difference_invoice(twelve, difference(first_invoice(), twelve).to_bill, "difference")
    done = first_invoice() + billed(extra, 2, "INV-2")
    back = difference(done, version(LICENCES, ONBOARDING))
    assert [(c.number, c.line_no, c.quantity) for c in back.to_credit] == [("INV-2", 1, D("2"))]
    # once those two are asked back (a pending or approved credit request), nothing is left to do
    claimed = first_invoice() + billed(extra, 2, "INV-2", claimed={1: D("2")})
    assert difference(claimed, version(LICENCES, ONBOARDING)).nothing


def test_a_draft_difference_counts_as_billed_but_is_not_credited() -> None:
    twelve = version(("Licences", "12", "100.00", "standard", "services"), ONBOARDING)
    extra = difference_invoice(twelve, difference(first_invoice(), twelve).to_bill, "difference")
    waiting = first_invoice() + billed(extra, 2)  # not issued yet
    assert difference(waiting, twelve).nothing
    # eleven: the draft's lot is kept (it cannot be credited), one unit of INV-1 is credited
    eleven = difference(waiting, version(("Licences", "11", "100.00", "standard", "services"), ONBOARDING))
    assert [(c.number, c.quantity) for c in eleven.to_credit] == [("INV-1", D("1"))] and not eleven.waiting
    # back to one licence: the draft's two must be issued before they can be credited
    one = difference(waiting, version(("Licences", "1", "100.00", "standard", "services"), ONBOARDING))
    assert [(c.number, c.quantity) for c in one.to_credit] == [("INV-1", D("10"))]
    assert one.waiting and "invoice draft 2" in one.waiting[0]


def test_another_buyer_or_vat_treatment_is_not_the_same_thing() -> None:
    moved = difference(first_invoice(), version(LICENCES, ONBOARDING, buyer=FR_BUYER))
    assert {c.number for c in moved.to_credit} == {"INV-1"} and moved.credit_net == D("1500.00")
    assert [(b.description, b.quantity, b.unit_price) for b in moved.to_bill] == [
        ("Licences", D("10"), D("100.00")),
        ("Onboarding", D("1"), D("500.00")),
    ]


def test_descriptions_match_ignoring_case_and_spacing_and_whatever_the_position() -> None:
    new = version(
        ("Onboarding", "1", "500.00", "standard", "services"), ("  licences ", "10", "100.00", "standard", "services")
    )
    assert difference(first_invoice(), new).nothing


def test_the_difference_invoice_bills_only_the_difference_with_the_new_versions_vat() -> None:
    new = version(
        ("Licences", "10", "120.00", "standard", "services"),
        ONBOARDING,
        ("Training", "2", "300.00", "standard", "services"),
    )
    diff = difference(first_invoice(), new)
    invoice = difference_invoice(new, diff.to_bill, "Difference for the amendment of deal D-1 (invoice INV-1)")
    assert [(ln.line_no, ln.order_line, ln.quantity, ln.unit_price, ln.note) for ln in invoice.lines] == [
        (1, 1, D("10"), D("20.00"), "Price change from 100.00 to 120.00 per unit"),
        (2, 3, D("2"), D("300.00"), ""),
    ]
    assert (invoice.totals.tax_exclusive, invoice.totals.tax) == (D("800.00"), D("152.00"))
    assert invoice.notes[-1] == "Difference for the amendment of deal D-1 (invoice INV-1)"
    assert invoice.buyer == new.buyer and invoice.order_refs == ("D-1",)
    with pytest.raises(InvoiceError):
        difference_invoice(new, (), "nothing")


def discounted(*lines: tuple[str, str, str, str], deal: str = "") -> Invoice:
    """The new version with (description, quantity, price, line discount) lines and a deal discount."""
    base = order("D-1", DE_BUYER, "EUR", [(d, q, p, "standard", "services") for d, q, p, _ in lines])
    items = tuple(
        BillableLine(b.description, b.quantity, b.unit_price, b.tax_category, b.supply, parse_discount(ln[3]))
        for b, ln in zip(base.lines, lines, strict=True)
    )
    return draft_invoice(replace(base, lines=items, discount=parse_discount(deal)), DE_SELLER, RATES, TERMS)


def test_a_discounted_line_that_changed_is_credited_as_billed_and_billed_again_as_drafted() -> None:
    first = discounted(("Licences", "10", "100.00", "10%"), ("Onboarding", "1", "500.00", ""))
    done = billed(first, 1, "INV-1")
    assert difference(done, first).nothing
    new = discounted(("Licences", "12", "100.00", "10%"), ("Onboarding", "1", "500.00", ""))
    diff = difference(done, new)
    assert [(c.line_no, c.quantity, c.net) for c in diff.to_credit] == [(1, D("10"), D("900.00"))]
    assert [(b.position, b.quantity, b.net) for b in diff.to_bill] == [(1, D("12"), D("1080.00"))]
    assert [(c.old_amount, c.new_amount) for c in diff.changes] == [
        (D("900.00"), D("1080.00")),
        (D("500.00"), D("500.00")),
    ]
    invoice = difference_invoice(new, diff.to_bill, "difference")
    assert [(ln.quantity, ln.net_amount, bool(ln.allowances)) for ln in invoice.lines] == [
        (D("12"), D("1080.00"), True)
    ]
    # billed again first: only the old line is left to credit; once asked back, nothing
    rebilled = done + billed(invoice, 2, "INV-2")
    assert difference(rebilled, new).to_bill == () and difference(rebilled, new).credit_net == D("900.00")
    claimed = billed(first, 1, "INV-1", claimed={1: D("10")}) + billed(invoice, 2, "INV-2")
    assert difference(claimed, new).nothing
    # the discount alone changes: the same again
    deeper = difference(done, discounted(("Licences", "10", "100.00", "20%"), ("Onboarding", "1", "500.00", "")))
    assert (deeper.credit_net, deeper.bill_net) == (D("900.00"), D("800.00"))


def test_a_deal_discount_bills_the_whole_new_version_again() -> None:
    first = discounted(("Licences", "10", "100.00", ""), ("Onboarding", "1", "500.00", ""), deal="10%")
    done = billed(first, 1, "INV-1")
    assert difference(done, first).nothing
    new = discounted(("Licences", "12", "100.00", ""), ("Onboarding", "1", "500.00", ""), deal="10%")
    diff = difference(done, new)
    assert diff.credits_by_invoice() == {"INV-1": {1: D("10"), 2: D("1")}} and diff.credit_net == D("1350.00")
    assert [c.new_amount for c in diff.changes] == [D("1080.00"), D("450.00")]
    invoice = difference_invoice(new, diff.to_bill, "difference")
    assert invoice.totals.tax_exclusive == D("1530.00") and invoice.allowances == new.allowances
    assert invoice.notes[-1] == "difference"
    rebilled = done + billed(invoice, 2, "INV-2")
    left = difference(rebilled, new)
    assert left.to_bill == () and left.credits_by_invoice() == {"INV-1": {1: D("10"), 2: D("1")}}
    claimed = billed(first, 1, "INV-1", claimed={1: D("10"), 2: D("1")}) + billed(invoice, 2, "INV-2")
    assert difference(claimed, new).nothing
    # the deal discount alone changes
    less = difference(done, discounted(("Licences", "10", "100.00", ""), ("Onboarding", "1", "500.00", ""), deal="20%"))
    assert (less.credit_net, less.bill_net) == (D("1350.00"), D("1200.00"))
