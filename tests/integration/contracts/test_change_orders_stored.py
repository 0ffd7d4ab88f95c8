"""Change orders stored and applied on SQLite and PostgreSQL: a 3-year ramp contract billed for
year 1 takes an upsell in mid-year 1 (a debit adjustment the next run bills; years 2 and 3 carry
the new quantity), then a termination (a credit, drafted as a credit note correcting the invoice
that billed the year); every version stays readable; what is billed plus the adjustments equals
each day billed at the version in force that day; bad input and a reused key write nothing."""

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from handoff.cli import app
from handoff.context import AppContext
from handoff.contracts.domain.change_orders import (
    ChangeOrder,
    ChangeOrderError,
    ChangeQuantity,
    Terminate,
)
from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractError,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Frequency,
    RampStep,
)
from handoff.contracts.repository.contracts import ContractRepository
from handoff.contracts.service import contracts
from handoff.contracts.service.billing_run import _charge, run_billing
from handoff.contracts.service.change_orders import amend, change_orders, credit_documents, version_of
from handoff.invoicing.domain.contract_invoices import ContractCharge, draft_for_charges
from handoff.invoicing.domain.determination import complete
from handoff.invoicing.domain.invoices import Invoice, InvoiceKind, invoice_from_json
from handoff.invoicing.service.issuing import issue_all_drafts
from handoff.kernel.parties import Address, Customer
from handoff.kernel.storage import schema
from handoff.users import service as users
from handoff.users.service import Role

FINANCE = "finance@acme.example"
START = date(2027, 1, 1)
UPSELL = date(2027, 7, 1)
BUYER = Customer(
    "CUST-9",
    "Kestrel Analytics GmbH",
    "DE",
    True,
    "DE811907980",
    billing_email="ap@kestrel.example",
    address=Address("Invalidenstraße 1", "Berlin", "10115", "DE"),
)
CENT = Decimal("0.01")


def _version(contract_id: str = "C-1") -> ContractVersion:
    terms = ContractTerms("CUST-9", "ACME-DE", "EUR", "net30", START, po_number="PO-77")
    seats = ContractLine(
        "L1",
        "PLAT-SEAT",
        "Platform seats",
        Decimal(10),
        Decimal("1000.00"),
        BillingRule(
            BillingKind.RECURRING,
            frequency=Frequency.ANNUAL,
            end=date(2030, 1, 1),
            ramp=(RampStep(date(2028, 1, 1), Decimal("1200.00")), RampStep(date(2029, 1, 1), Decimal("1500.00"))),
        ),
    )
    return ContractVersion(contract_id, 1, START, terms, (seats,))


def _upsell(key: str = "CO-1") -> ChangeOrder:
    return ChangeOrder(key, UPSELL, (ChangeQuantity("L1", Decimal(15)),), "5 more seats")


def _part(amount: Decimal, days: int, period_days: int) -> Decimal:
    return (amount * days / period_days).quantize(CENT, rounding=ROUND_HALF_UP)


def _items(ctx: AppContext, contract_id: str = "C-1") -> dict[str, Any]:
    return {i.period_key: i for i in ContractRepository(ctx.engine).items(contract_id)}


def _count(ctx: AppContext, table: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _documents(ctx: AppContext, ids: list[int]) -> list[Invoice]:
    inv = schema.invoices
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(inv.c.document).where(inv.c.id.in_(ids)).order_by(inv.c.id)).scalars().all()
    return [invoice_from_json(r) for r in rows]


def _build(ctx: AppContext) -> Any:
    """What the billing run does with a group's charges (draft_for_charges + VAT determination)."""
    config = ctx.config

    def build(charges: list[ContractCharge]) -> Invoice:
        draft = draft_for_charges(
            charges,
            BUYER,
            config.entities["ACME-DE"],
            config.vat_rates,
            config.model.payment_terms,
            currency="EUR",
            payment_terms="net30",
        )
        return complete(draft, config.vat_rates, config.tax_policy)

    return build


def test_an_upsell_bills_a_debit_and_carries_the_new_quantity(ctx: AppContext) -> None:
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won quote Q-12")
    year1 = run_billing(ctx, START, "w1")
    assert (year1.drafts, year1.items) == (1, 1)

    done = amend(ctx, "C-1", _upsell(), FINANCE, "customer signed CO-1")
    assert (done.version, done.change_order, done.repeated) == (2, "CO-1", False)
    # each part of the year rounded once: 181 days at 10 seats, 184 at 15, less the 10 billed
    debit = _part(Decimal(10000), 181, 365) + _part(Decimal(15000), 184, 365) - Decimal(10000)
    assert debit == Decimal("2520.54")
    assert done.adjustments == (("L1", "adjust:CO-1:2027-01-01", debit),)

    items = _items(ctx)
    assert items["2027-01-01"].status == "billed" and items["2027-01-01"].quantity == 10  # never edited
    adjustment = items["adjust:CO-1:2027-01-01"]
    assert (adjustment.status, adjustment.bill_date, adjustment.trigger) == ("planned", UPSELL, "change_order")
    for period, price in (("2028-01-01", "1200.00"), ("2029-01-01", "1500.00")):
        assert (items[period].quantity, items[period].amount, items[period].version) == (
            Decimal(15),
            Decimal(15) * Decimal(price),
            2,
        )
        assert items[period].status == "planned"

    assert run_billing(ctx, date(2027, 6, 30), "w1").drafts == 0  # not due before the effective date
    debited = run_billing(ctx, UPSELL, "w1")
    assert (debited.drafts, debited.items, debited.failures) == (1, 1, [])
    (invoice,) = _documents(ctx, debited.invoice_ids)
    assert invoice.kind is InvoiceKind.INVOICE and invoice.totals.tax_exclusive == debit
    assert run_billing(ctx, UPSELL, "w1").drafts == 0  # exactly once

    # every version stays readable, each with its own content hash
    assert version_of(ctx, "C-1", 1).lines[0].quantity == 10
    assert version_of(ctx, "C-1").lines[0].quantity == 15
    view = contracts.show_contract(ctx, "C-1")
    assert [v.version for v in view.versions] == [1, 2] and view.contract.current_version == 2
    assert view.versions[1].content_hash == view.current.content_hash == done.content_hash
    assert [c.key for c in change_orders(ctx, "C-1")] == ["CO-1"]
    with ctx.engine.connect() as conn:
        entry = conn.execute(
            select(schema.audit_log.c.after).where(schema.audit_log.c.action == "contract.amended")
        ).scalar_one()
    assert entry["content_hash"] == done.content_hash


def test_a_termination_credits_the_unused_days_as_a_credit_note(ctx: AppContext) -> None:
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won quote Q-12")
    run_billing(ctx, START, "w1")
    amend(ctx, "C-1", _upsell(), FINANCE, "CO-1")
    run_billing(ctx, UPSELL, "w1")
    year2 = run_billing(ctx, date(2028, 1, 1), "w1")
    assert year2.items == 1
    issue_all_drafts(ctx, "test")  # year 1, the debit and year 2 issued

    end = date(2028, 7, 1)
    done = amend(ctx, "C-1", ChangeOrder("CO-2", date(2028, 4, 1), (Terminate(end),)), FINANCE, "ended early")
    credit = -_part(Decimal(18000), 184, 366)  # 2028-07-01 to 2029-01-01 at 15 x 1200, of 366 days
    assert done.adjustments == (("L1", "adjust:CO-2:2028-01-01", credit),)
    items = _items(ctx)
    assert items["2029-01-01"].status == "superseded"
    assert contracts.show_contract(ctx, "C-1").contract.status == "terminated"

    # the run's document for a group netting below zero: a credit-note draft correcting year 2's invoice
    with ctx.unit_of_work() as uow:
        due = ContractRepository(uow).due_items(["C-1"], date(2028, 4, 1))
        assert [i.period_key for i in due] == ["adjust:CO-2:2028-01-01"]
        document = credit_documents(uow, due, [_charge(i) for i in due], _build(ctx))
    billed_year2 = items["2028-01-01"]
    (year2_invoice,) = _documents(ctx, [billed_year2.invoice_id])
    assert document.kind is InvoiceKind.CREDIT_NOTE
    assert document.corrects == year2_invoice.number and document.corrects_issue_date == year2_invoice.issue_date
    assert document.totals.tax_exclusive == -credit  # a credit note's amounts are positive
    assert [(ln.quantity, ln.unit_price) for ln in document.lines] == [(Decimal(1), -credit)]

    # the property on this worked example: billed items + adjustments = each day at its version
    kept = [i for i in _items(ctx).values() if i.status in ("billed", "planned") and i.bill_date is not None]
    expected = (
        _part(Decimal(10000), 181, 365)  # 2027 to the upsell, 10 seats
        + _part(Decimal(15000), 184, 365)  # 2027 from the upsell, 15 seats
        + _part(Decimal(18000), 182, 366)  # 2028 to the termination, 15 seats at 1200
    )
    assert sum((i.amount for i in kept), Decimal(0)) == expected


def test_a_net_positive_group_bills_a_credit_as_a_negative_quantity_line(ctx: AppContext) -> None:
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won quote Q-12")
    run_billing(ctx, START, "w1")
    amend(ctx, "C-1", ChangeOrder("CO-1", UPSELL, (ChangeQuantity("L1", Decimal(8)),)), FINANCE, "downsell")
    with ctx.unit_of_work() as uow:
        due = ContractRepository(uow).due_items(["C-1"], date(2028, 1, 1))  # the credit and year 2
        document = credit_documents(uow, due, [_charge(i) for i in due], _build(ctx))
    assert document.kind is InvoiceKind.INVOICE
    credit = next(i for i in due if i.period_key.startswith("adjust:")).amount
    assert credit < 0
    lines = {ln.contract_line + (":adj" if ln.quantity < 0 else ""): ln for ln in document.lines}
    assert (lines["L1:adj"].quantity, lines["L1:adj"].unit_price) == (Decimal(-1), -credit)
    assert document.totals.tax_exclusive == Decimal(8 * 1200) + credit


def test_bad_change_orders_are_refused_with_nothing_written(ctx: AppContext) -> None:
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won quote Q-12")
    before = (_count(ctx, schema.contract_versions), _count(ctx, schema.schedule_items), _count(ctx, schema.audit_log))

    with pytest.raises(ContractError, match=r"contract C-1 change order CO-1: effective 2026-12-01 is before"):
        amend(ctx, "C-1", ChangeOrder("CO-1", date(2026, 12, 1), (ChangeQuantity("L1", Decimal(2)),)), FINANCE, "")
    with pytest.raises(ContractError, match=r"contract C-1 change order CO-1.*L9") as unknown_line:
        amend(ctx, "C-1", ChangeOrder("CO-1", UPSELL, (ChangeQuantity("L9", Decimal(2)),)), FINANCE, "")
    assert unknown_line.value.line_key == "L9"
    with pytest.raises(ContractError, match=r"contract C-404 change order CO-1: contract_id 'C-404' does not exist"):
        amend(ctx, "C-404", _upsell(), FINANCE, "")
    assert before == (
        _count(ctx, schema.contract_versions),
        _count(ctx, schema.schedule_items),
        _count(ctx, schema.audit_log),
    )
    assert _count(ctx, schema.change_orders) == 0


def test_a_change_order_key_is_used_once(ctx: AppContext) -> None:
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won quote Q-12")
    first = amend(ctx, "C-1", _upsell(), FINANCE, "CO-1")
    again = amend(ctx, "C-1", _upsell(), FINANCE, "CO-1 sent twice")
    assert again.repeated and (again.version, again.content_hash) == (first.version, first.content_hash)
    other = ChangeOrder("CO-1", UPSELL, (ChangeQuantity("L1", Decimal(20)),))
    with pytest.raises(ChangeOrderError, match=r"contract C-1 change order CO-1: key is a duplicate") as refused:
        amend(ctx, "C-1", other, FINANCE, "")
    assert refused.value.field == "key"
    assert _count(ctx, schema.contract_versions) == 2 and _count(ctx, schema.change_orders) == 1


def test_the_amend_command(ctx: AppContext, db_url: str, tmp_path: Path) -> None:
    users.add_user(ctx, FINANCE, Role.FINANCE, "pw-finance-12345", actor="test")
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won quote Q-12")
    run_billing(ctx, START, "w1")
    order = tmp_path / "co-1.json"
    order.write_text(json.dumps(_upsell().to_json()))
    runner = CliRunner()
    args = ["contracts", "amend", "C-1", "--file", str(order), "--actor", FINANCE, "--reason", "signed", "--db", db_url]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "version 2" in done.output and "2,520.54" in done.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already applied" in again.output

    yaml_order = tmp_path / "co-2.yaml"
    yaml_order.write_text(
        "key: CO-2\neffective: 2027-08-01\nchanges:\n  - {type: change_quantity, line_key: L7, quantity: '3'}\n"
    )
    args[4] = str(yaml_order)
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and "L7" in refused.output
    assert _count(ctx, schema.contract_versions) == 2


def test_the_billing_run_drafts_a_termination_credit_as_a_credit_note(ctx: AppContext) -> None:
    """The run itself, not only its document builder: the credit of a termination after the year was
    invoiced becomes a credit-note draft (kind credit_note) correcting that year's issued invoice,
    billed once."""
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won quote Q-12")
    run_billing(ctx, START, "w1")
    issue_all_drafts(ctx, "test")
    amend(ctx, "C-1", ChangeOrder("CO-2", date(2027, 7, 1), (Terminate(date(2027, 7, 1)),)), FINANCE, "ended early")
    made = run_billing(ctx, date(2027, 7, 1), "w1")
    assert (made.drafts, made.items, made.failures) == (1, 1, [])
    (credit_note,) = _documents(ctx, list(made.invoice_ids))
    (year1,) = _documents(ctx, [_items(ctx)[START.isoformat()].invoice_id])
    assert credit_note.kind is InvoiceKind.CREDIT_NOTE and credit_note.corrects == year1.number
    assert credit_note.totals.tax_exclusive > 0  # what is credited, positive on a credit note
    inv = schema.invoices
    with ctx.engine.connect() as conn:
        kinds = conn.execute(select(inv.c.kind).where(inv.c.id.in_(made.invoice_ids))).scalars().all()
    assert kinds == ["credit_note"]
    assert run_billing(ctx, date(2027, 7, 1), "w1").drafts == 0
