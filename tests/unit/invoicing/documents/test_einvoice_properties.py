"""Random invoices, rendered as UBL and CII, pass the official EN 16931 rules: our rounding and
the validators' calculation checks (BR-CO-10..17, BR-S-08 ...) agree."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handoff.invoicing.documents import render
from handoff.invoicing.documents.validation import validate
from handoff.invoicing.domain.invoices import Invoice, draft_invoice, issue
from tests.corpus import DE_BUYER, DE_SELLER, FR_BUYER, NL_BUYER, RATES, SE_BUYER, SE_SELLER, TERMS, US_BUYER, order

line = st.tuples(
    st.just("Item"),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2).map(str),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("20000"), places=4).map(str),
    st.sampled_from(["standard", "reduced", "zero", "exempt"]),
    st.sampled_from(["goods", "services"]),
)


@st.composite
def issued_invoices(draw: st.DrawFn) -> Invoice:
    lines = draw(st.lists(line, min_size=1, max_size=8))
    seller, buyer, currency = draw(
        st.sampled_from(
            [
                (DE_SELLER, DE_BUYER, "EUR"),
                (DE_SELLER, FR_BUYER, "EUR"),
                (DE_SELLER, NL_BUYER, "EUR"),
                (DE_SELLER, US_BUYER, "USD"),
                (SE_SELLER, SE_BUYER, "SEK"),
            ]
        )
    )
    draft = draft_invoice(order("H-2", buyer, currency, lines), seller, RATES, TERMS)
    rate = Decimal("0.9") if draft.tax_currency else None
    return issue(draft, f"INV-{seller.invoice_prefix}-2026-000009", date(2026, 2, 1), rate)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(issued_invoices())
def test_random_invoices_pass_en16931_and_peppol(inv: Invoice) -> None:
    for fmt in ("ubl", "cii"):
        findings = validate(render(inv, fmt))
        assert findings == [], (fmt, [str(f) for f in findings])
