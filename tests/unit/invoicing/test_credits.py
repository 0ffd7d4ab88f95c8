"""The credit rules: payment state and open amount with credit, what a credit note settles on
the invoice it corrects, and credit used oldest credit note first."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff.invoicing.domain.credits import CreditRuleError, CreditSource, for_corrected, take, to_apply, to_refund
from handoff.invoicing.domain.invoices import DocumentStatus as Doc
from handoff.invoicing.domain.invoices import PaymentState, is_overdue, open_amount, payment_state

D = Decimal


@pytest.mark.parametrize(
    ("gross", "paid", "credited", "state"),
    [
        ("12000", "0", "0", PaymentState.UNPAID),
        ("12000", "6000", "0", PaymentState.PARTIAL),
        ("12000", "12000", "0", PaymentState.PAID),
        ("12000", "6000", "6000", PaymentState.CREDITED),  # half paid, the rest credited
        ("12000", "0", "12000", PaymentState.CREDITED),  # cancelled by credit
        ("12000", "0", "4000", PaymentState.UNPAID),  # credit alone: still owed, nothing paid
        ("12000", "100", "4000", PaymentState.PARTIAL),
        ("12000", "8000", "4000", PaymentState.CREDITED),
        ("12000", "100", "12000", PaymentState.CREDITED),  # paid on top of a full credit
    ],
)
def test_payment_state_counts_credit(gross: str, paid: str, credited: str, state: PaymentState) -> None:
    assert payment_state(D(gross), D(paid), D(credited)) is state


def test_only_an_invoice_with_something_open_is_overdue() -> None:
    due, late = date(2026, 12, 2), date(2027, 1, 2)
    assert is_overdue(Doc.ISSUED, PaymentState.PARTIAL, due, late)
    assert not is_overdue(Doc.ISSUED, PaymentState.CREDITED, due, late)
    assert not is_overdue(Doc.ISSUED, PaymentState.PAID, due, late)


def test_a_credit_note_settles_what_is_open_on_its_invoice_and_no_more() -> None:
    assert for_corrected(D("12000"), open_amount(D("12000"), D("6000"))) == D("6000")
    assert for_corrected(D("3000"), open_amount(D("12000"), D("0"))) == D("3000")
    assert for_corrected(D("3000"), open_amount(D("12000"), D("12000"))) == D("0")
    assert for_corrected(D("3000"), open_amount(D("12000"), D("12500"))) == D("0")  # overpaid


def source(n: int, remaining: str, day: int) -> CreditSource:
    return CreditSource(n, f"CRN-{n}", date(2026, 11, day), D(remaining))


def test_credit_is_used_oldest_credit_note_first() -> None:
    sources = [source(2, "500", 20), source(1, "300", 10)]
    assert [(u.source.number, u.amount) for u in take(D("600"), sources)] == [("CRN-1", D("300")), ("CRN-2", D("300"))]
    with pytest.raises(CreditRuleError) as short:
        take(D("800.01"), sources)
    assert (short.value.code, short.value.field) == ("no_credit", "amount") and "800.00" in str(short.value)


def test_applying_takes_what_is_open_and_available_unless_told() -> None:
    sources = [source(1, "300", 10)]
    assert [u.amount for u in to_apply(None, D("1000"), sources, "invoice X")] == [D("300")]
    assert [u.amount for u in to_apply(None, D("100"), sources, "invoice X")] == [D("100")]
    for wanted, open_, code in (("0", "100", "invalid"), ("1.001", "100", "invalid"), ("200", "100", "invalid")):
        with pytest.raises(CreditRuleError) as refused:
            to_apply(D(wanted), D(open_), sources, "invoice X")
        assert refused.value.code == code and refused.value.field == "amount"
    with pytest.raises(CreditRuleError) as settled:
        to_apply(None, D("0"), sources, "invoice X")
    assert settled.value.code == "not_open"
    with pytest.raises(CreditRuleError) as none:
        to_apply(None, D("10"), [], "invoice X in USD")
    assert none.value.code == "no_credit" and "USD" in str(none.value)
    with pytest.raises(CreditRuleError) as nan:
        to_refund(D("NaN"), sources, "customer C-1")
    assert nan.value.code == "invalid"


@given(
    remaining=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=6),
    share=st.floats(min_value=0.01, max_value=1.0),
)
def test_taking_never_uses_more_than_a_credit_note_has_nor_other_than_asked(remaining: list[int], share: float) -> None:
    sources = [CreditSource(i, f"CRN-{i}", date(2026, 11, 1 + i), D(cents) / 100) for i, cents in enumerate(remaining)]
    total = sum((s.remaining for s in sources), D(0))
    wanted = max(D("0.01"), (total * D(str(share))).quantize(D("0.01")))
    uses = take(wanted, sources)
    assert sum((u.amount for u in uses), D(0)) == wanted
    assert all(0 < u.amount <= u.source.remaining for u in uses)
    assert len({u.source.credit_note_id for u in uses}) == len(uses)
