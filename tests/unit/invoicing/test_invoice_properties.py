"""Property tests: for random invoices, the EN 16931 calculation rules hold exactly.

BR-LIN-04 line net = quantity x price (rounded); BR-CO-10 BT-106 = sum of line nets; BR-CO-13
BT-109 = BT-106 (no document allowances or charges); BR-CO-14 BT-110 = sum of BT-117; BR-CO-15
BT-112 = BT-109 + BT-110; BR-CO-16 BT-115 = BT-112 - BT-113 (+ BT-114, none here); BR-CO-17
BT-117 = BT-116 x BT-119 / 100 rounded; BR-S-08 and kin: BT-116 per category and rate = sum of
its line nets; BR-DEC: every amount has at most two decimals.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from handoff.invoicing.domain.invoices import Invoice, credit_note, draft_invoice, issue
from tests.corpus import DE_BUYER, DE_SELLER, FR_BUYER, FR_CONSUMER, GB_BUYER, RATES, TERMS, US_BUYER, order

CENT = Decimal("0.01")
buyers = st.sampled_from([DE_BUYER, FR_BUYER, FR_CONSUMER, US_BUYER, GB_BUYER])
products = st.sampled_from(["standard", "reduced", "zero", "exempt"])
supplies = st.sampled_from(["goods", "services", "digital"])
quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("10000"), places=3)
prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=4)
line = st.tuples(st.just("Item"), quantities.map(str), prices.map(str), products, supplies)


@st.composite
def invoices(draw: st.DrawFn) -> Invoice:
    lines = draw(st.lists(line, min_size=1, max_size=12))
    over = draw(st.booleans())
    return draft_invoice(
        order("H-1", draw(buyers), "EUR", lines), DE_SELLER, RATES, TERMS, over_distance_threshold=over
    )


def _has_two_decimals(value: Decimal) -> bool:
    return value == value.quantize(CENT)


def check_calculation_rules(inv: Invoice) -> None:
    for ln in inv.lines:
        assert ln.net_amount == (ln.quantity * ln.unit_price).quantize(CENT, rounding=ROUND_HALF_UP)  # BR-LIN-04
    t = inv.totals
    assert t.line_net == sum(ln.net_amount for ln in inv.lines)  # BR-CO-10
    assert t.tax_exclusive == t.line_net  # BR-CO-13
    assert t.tax == sum(b.tax_amount for b in inv.breakdown)  # BR-CO-14
    assert t.tax_inclusive == t.tax_exclusive + t.tax  # BR-CO-15
    assert t.payable == t.tax_inclusive - t.prepaid  # BR-CO-16
    bases: dict[tuple[str, Decimal], Decimal] = defaultdict(Decimal)
    for ln in inv.lines:
        bases[(ln.tax.category, ln.tax.rate)] += ln.net_amount
    assert {(b.category, b.rate): b.taxable_amount for b in inv.breakdown} == bases  # BR-S-08, BR-AE-08 ...
    for b in inv.breakdown:
        assert b.tax_amount == (b.taxable_amount * b.rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)  # BR-CO-17
        if b.category != "S":
            assert b.tax_amount == 0
    for value in (t.line_net, t.tax, t.tax_inclusive, t.payable, *(b.tax_amount for b in inv.breakdown)):
        assert _has_two_decimals(value)  # BR-DEC-*


@given(invoices())
def test_invoice_totals_follow_en16931(inv: Invoice) -> None:
    check_calculation_rules(inv)


@given(invoices(), st.data())
def test_credit_notes_follow_en16931_and_never_exceed_the_invoice(inv: Invoice, data: st.DataObject) -> None:
    issued = issue(inv, "INV-DE-2026-000001", date(2026, 1, 5))
    wanted = {ln.line_no: data.draw(st.decimals(min_value=0, max_value=ln.quantity, places=3)) for ln in issued.lines}
    if not any(wanted.values()):
        wanted[1] = issued.lines[0].quantity
    cn = credit_note(issued, "property", wanted)
    check_calculation_rules(cn)
    assert cn.totals.line_net <= issued.totals.line_net
    assert cn.corrects == issued.number
