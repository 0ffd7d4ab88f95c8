"""Delivery items on SQLite and PostgreSQL: `add_delivery_items` plans a project's delivered work on its
contract's schedule in the caller's transaction, refuses a (line, period) written already and an
unknown contract with nothing written; the billing run bills such an item with its note on the
invoice line (BT-127) and its entries in the invoice's annex."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractError,
    ContractLine,
    ContractTerms,
    ContractVersion,
)
from handoff.contracts.service import contracts
from handoff.contracts.service.billing_run import run_billing
from handoff.contracts.service.delivery import AnnexRow, DeliveryItem, add_delivery_items
from handoff.invoicing.domain.invoices import DocumentStatus, invoice_from_json
from handoff.invoicing.service.issuing import issue_all_drafts
from handoff.kernel.parties import Address, Customer
from handoff.kernel.storage import schema

FINANCE = "finance@acme.example"
START = date(2027, 1, 1)
BUYER = Customer(
    "CUST-9",
    "Kestrel Analytics GmbH",
    "DE",
    True,
    "DE811907980",
    billing_email="ap@kestrel.example",
    address=Address("Invalidenstraße 1", "Berlin", "10115", "DE"),
)
NOTE = "project PRJ-C-1: 2 time entries (harvest), January 2027"


def _version(contract_id: str = "C-1") -> ContractVersion:
    terms = ContractTerms("CUST-9", "ACME-DE", "EUR", "net30", START)
    tm = ContractLine(
        "L1",
        "architect",
        "Architecture",
        Decimal(100),
        Decimal("150.00"),
        BillingRule(BillingKind.TIME_AND_MATERIALS),
    )
    return ContractVersion(contract_id, 1, START, terms, (tm,))


def time_item(period_key: str = "time:2027-01:1") -> DeliveryItem:
    rows = (
        AnnexRow(
            "time",
            date(2027, 1, 4),
            "Ada Byrne",
            "architect",
            "Data model <draft> & review",
            Decimal("3.5"),
            Decimal("525.00"),
            "h-1",
        ),
        AnnexRow(
            "time", date(2027, 1, 5), "Lin Okafor", "architect", "Workshop", Decimal("4"), Decimal("600.00"), "h-2"
        ),
    )
    return DeliveryItem(
        line_key="L1",
        period_key=period_key,
        period_start=START,
        period_end=date(2027, 2, 1),
        bill_date=date(2027, 2, 1),
        quantity=Decimal("7.5"),
        unit_price=Decimal("150.00"),
        amount=Decimal("1125.00"),
        description="Architect, January 2027: 7.50 h",
        product="architect",
        tax_category="standard",
        supply="services",
        trigger="time",
        note=NOTE,
        detail=rows,
    )


def expense_item() -> DeliveryItem:
    row = AnnexRow(
        "expense", date(2027, 1, 6), "Ada Byrne", "travel", "Train Berlin-Hamburg", Decimal(1), Decimal("89.90"), "R-77"
    )
    return replace(
        time_item("expenses:2027-01:1"),
        line_key="expenses",
        quantity=Decimal(1),
        unit_price=Decimal("89.90"),
        amount=Decimal("89.90"),
        description="Expenses, January 2027",
        product="",
        trigger="expense",
        note="project PRJ-C-1: 1 expense, January 2027",
        detail=(row,),
    )


def _count(ctx: AppContext, table: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _add(ctx: AppContext, contract_id: str, items: list[DeliveryItem]) -> None:
    with ctx.unit_of_work() as uow:
        add_delivery_items(uow, contract_id, items, "automation:posting", now=ctx.clock())
        uow.commit()


def test_items_are_planned_in_the_callers_transaction(ctx: AppContext) -> None:
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won")
    before = _count(ctx, schema.schedule_items)
    with ctx.unit_of_work() as uow:  # not committed: nothing stays
        add_delivery_items(uow, "C-1", [time_item()], "automation:posting")
    assert _count(ctx, schema.schedule_items) == before
    _add(ctx, "C-1", [time_item(), expense_item()])
    items = {(i.line_key, i.period_key): i for i in contracts.show_contract(ctx, "C-1").items}
    time = items[("L1", "time:2027-01:1")]
    assert (time.status, time.bill_date, time.amount, time.unit_code, time.note) == (
        "planned",
        date(2027, 2, 1),
        Decimal("1125.00"),
        "HUR",
        NOTE,
    )
    assert time.detail is not None and [r["reference"] for r in time.detail] == ["h-1", "h-2"]
    assert items[("expenses", "expenses:2027-01:1")].unit_code == "C62"
    a = schema.audit_log
    with ctx.engine.connect() as conn:
        row = conn.execute(select(a.c.action, a.c.after).order_by(a.c.seq.desc()).limit(1)).one()
    assert row.action == "contract.delivery_items_added"
    assert row.after["period_keys"] == ["time:2027-01:1", "expenses:2027-01:1"]
    assert Decimal(row.after["total"]) == Decimal("1214.90")


def test_duplicates_unknown_and_bad_items_are_refused_with_nothing_written(ctx: AppContext) -> None:
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won")
    _add(ctx, "C-1", [time_item()])
    before = (_count(ctx, schema.schedule_items), _count(ctx, schema.audit_log))
    with pytest.raises(ContractError, match=r"contract C-1 line L1: period_key 'time:2027-01:1' is in the schedule"):
        _add(ctx, "C-1", [time_item("time:2027-01:2"), time_item()])
    with pytest.raises(ContractError, match=r"period_key 'time:2027-01:2' is given twice"):
        _add(ctx, "C-1", [time_item("time:2027-01:2"), time_item("time:2027-01:2")])
    with pytest.raises(ContractError, match="contract C-404: contract_id does not exist"):
        _add(ctx, "C-404", [time_item()])
    with pytest.raises(
        ContractError, match=r"contract C-1 line L1 period time:2027-01:3: amount 1\.005 is not in cents"
    ):
        _add(ctx, "C-1", [replace(time_item("time:2027-01:3"), amount=Decimal("1.005"))])
    with pytest.raises(ContractError, match="period_end 2027-01-01 is not after period_start"):
        _add(ctx, "C-1", [replace(time_item("time:2027-01:3"), period_end=START)])
    assert (_count(ctx, schema.schedule_items), _count(ctx, schema.audit_log)) == before


def test_the_billing_run_bills_the_note_and_the_annex(ctx: AppContext) -> None:
    contracts.lock(ctx, _version(), replace(BUYER, invoice_format="ubl"), FINANCE, "won")
    _add(ctx, "C-1", [time_item(), expense_item()])
    assert run_billing(ctx, date(2027, 1, 31), "w1").drafts == 0
    result = run_billing(ctx, date(2027, 2, 1), "w1")
    assert (result.drafts, result.items, result.failures) == (1, 2, [])
    inv = schema.invoices
    with ctx.engine.connect() as conn:
        doc = conn.execute(select(inv.c.document).where(inv.c.id == result.invoice_ids[0])).scalar_one()
    invoice = invoice_from_json(doc)
    assert [(ln.note, ln.period_start, ln.period_end, ln.net_amount) for ln in invoice.lines] == [
        (NOTE, START, date(2027, 1, 31), Decimal("1125.00")),
        ("project PRJ-C-1: 1 expense, January 2027", START, date(2027, 1, 31), Decimal("89.90")),
    ]
    assert [r.reference for r in invoice.annex] == ["h-1", "h-2", "R-77"]
    assert invoice.annex[0].description == "Data model <draft> & review"
    assert invoice.annex[0].quantity == Decimal("3.5")
    # it issues: the UBL (with the notes and periods) passes EN 16931 validation
    failures: list[tuple[int, str]] = []
    issued = issue_all_drafts(ctx, FINANCE, on=date(2027, 2, 1), failures=failures)
    assert failures == [] and len(issued) == 1 and issued[0].status is DocumentStatus.ISSUED
    assert issued[0].annex == invoice.annex
    with ctx.engine.connect() as conn:
        row = conn.execute(select(inv.c.einvoice_validation).where(inv.c.id == result.invoice_ids[0])).one()
    assert row.einvoice_validation is not None and row.einvoice_validation["passed"] is True


def _adjustment(amount: str) -> DeliveryItem:
    """Hours taken back from January after it was invoiced (an entry edited down), posted in March."""
    return replace(
        time_item("time-adjust:2027-01:2"),
        quantity=Decimal(-1),
        amount=Decimal(amount),
        bill_date=date(2027, 3, 1),
        description="Architect, January 2027: adjustment -1.00 h",
        note="project PRJ-C-1: 1 time entry edited after invoicing, January 2027",
        detail=(),
    )


def test_hours_taken_back_after_invoicing_make_a_credit_note(ctx: AppContext) -> None:
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won")
    _add(ctx, "C-1", [time_item()])
    first = run_billing(ctx, date(2027, 2, 1), "w1")
    _add(ctx, "C-1", [_adjustment("-150.00")])
    # the January invoice is still a draft: nothing to correct yet, the adjustment waits
    waiting = run_billing(ctx, date(2027, 3, 1), "w1")
    assert waiting.drafts == 0
    assert "corrects the invoice that billed L1 time:2027-01:*, which is not issued yet" in waiting.failures[0][1]
    (issued,) = issue_all_drafts(ctx, FINANCE, on=date(2027, 2, 1), failures=[])
    assert issued.number
    credit = run_billing(ctx, date(2027, 3, 1), "w1")
    assert (credit.drafts, credit.items, credit.failures) == (1, 1, [])
    inv = schema.invoices
    with ctx.engine.connect() as conn:
        doc = conn.execute(select(inv.c.document).where(inv.c.id == credit.invoice_ids[0])).scalar_one()
    note = invoice_from_json(doc)
    assert note.kind.value == "credit_note" and note.corrects == issued.number
    assert [(ln.net_amount, ln.note) for ln in note.lines] == [(Decimal("150.00"), _adjustment("-150.00").note)]
    assert note.totals.tax_inclusive == Decimal("178.50")  # 150.00 + 19 % VAT, credited
    assert first.invoice_ids[0] != credit.invoice_ids[0]
