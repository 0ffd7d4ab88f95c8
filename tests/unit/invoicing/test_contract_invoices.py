"""Drafts for contract charges: each line keeps its contract, contract line, period (BG-26, last
day inclusive) and trigger; totals and VAT as a deal's draft; a prorated period billed at its gross;
documents stored before these fields read back with their defaults."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from handoff.invoicing.domain.contract_invoices import ContractCharge, draft_for_charges
from handoff.invoicing.domain.invoices import InvoiceError, invoice_from_json
from handoff.invoicing.domain.tax import TaxDecision
from handoff.kernel.encoding import to_jsonable
from tests.corpus import DE_BUYER, DE_SELLER, FR_BUYER, RATES, TERMS


def charge(contract: str, line: str, gross: str, **more: object) -> ContractCharge:
    fields: dict[str, object] = {
        "contract_id": contract,
        "line_key": line,
        "period_key": "once",
        "description": f"{contract} {line}",
        "quantity": Decimal(1),
        "unit_price": Decimal(gross),
        "gross": Decimal(gross),
        "discount": Decimal(0),
        "tax_category": "standard",
        "supply": "services",
    }
    fields.update(more)
    return ContractCharge(**fields)  # type: ignore[arg-type]


def test_lines_keep_their_contract_line_period_and_trigger() -> None:
    monthly = charge(
        "C-1",
        "L1",
        "100.00",
        period_key="2027-01-01",
        quantity=Decimal(2),
        unit_price=Decimal("50.00"),
        discount=Decimal("10.00"),
        period_start=date(2027, 1, 1),
        period_end=date(2027, 2, 1),
    )
    milestone = charge("C-2", "L3", "8000.00", period_key="milestone:M1", trigger="milestone")
    memo: dict[tuple[object, ...], TaxDecision] = {}
    invoice = draft_for_charges(
        [monthly, milestone], DE_BUYER, DE_SELLER, RATES, TERMS, currency="EUR", payment_terms="net30", memo=memo
    )
    first, second = invoice.lines
    assert (first.order_ref, first.contract_line, first.trigger) == ("C-1", "L1", "date")
    assert (first.period_start, first.period_end) == (date(2027, 1, 1), date(2027, 1, 31))  # BT-135 inclusive
    assert (first.quantity, first.unit_price, first.net_amount) == (Decimal(2), Decimal("50.00"), Decimal("90.00"))
    assert first.allowance_total == Decimal("10.00")
    assert (second.contract_line, second.period_start, second.trigger) == ("L3", None, "milestone")
    assert invoice.order_refs == ("C-1", "C-2") and invoice.notes[-1] == "Contracts C-1, C-2"
    assert invoice.totals.tax_exclusive == Decimal("8090.00")
    assert invoice.totals.tax == Decimal("1537.10")  # 19 % German VAT, rounded once per category
    assert len(memo) == 1  # one tax decision for both lines: same buyer, supply and category


def test_a_prorated_period_is_billed_at_its_gross() -> None:
    partial = charge(
        "C-1",
        "L1",
        "54.84",  # 17 days of a 31-day month at 100.00
        quantity=Decimal(1),
        unit_price=Decimal("100.00"),
        period_key="2027-01-15",
        period_start=date(2027, 1, 15),
        period_end=date(2027, 2, 1),
    )
    invoice = draft_for_charges([partial], FR_BUYER, DE_SELLER, RATES, TERMS, currency="EUR", payment_terms="net30")
    (line,) = invoice.lines
    assert (line.quantity, line.unit_price, line.net_amount) == (Decimal(1), Decimal("54.84"), Decimal("54.84"))
    assert line.tax.rule == "reverse_charge"  # a French business: the buyer accounts for the VAT
    assert invoice.notes[-1] == "Contract C-1"


def test_unknown_terms_and_no_charges_are_refused() -> None:
    with pytest.raises(InvoiceError, match="contract C-1: payment terms 'net99' are not configured"):
        draft_for_charges(
            [charge("C-1", "L1", "1.00")], DE_BUYER, DE_SELLER, RATES, TERMS, currency="EUR", payment_terms="net99"
        )
    with pytest.raises(InvoiceError, match="at least one line"):
        draft_for_charges([], DE_BUYER, DE_SELLER, RATES, TERMS, currency="EUR", payment_terms="net30")


def test_documents_stored_before_the_contract_fields_read_back() -> None:
    invoice = draft_for_charges(
        [charge("C-1", "L1", "10.00", period_start=date(2027, 1, 1), period_end=date(2027, 2, 1))],
        DE_BUYER,
        DE_SELLER,
        RATES,
        TERMS,
        currency="EUR",
        payment_terms="net30",
    )
    doc = to_jsonable(invoice)
    assert invoice_from_json(doc) == invoice
    for line in doc["lines"]:
        for name in ("contract_line", "period_start", "period_end", "trigger"):
            del line[name]
    old = invoice_from_json(doc).lines[0]
    assert (old.contract_line, old.period_start, old.period_end, old.trigger) == ("", None, None, "")
