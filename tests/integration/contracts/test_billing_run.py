"""The billing run on SQLite and PostgreSQL: a locked contract's due items are drafted exactly once,
on the days they fall due (a 3-year ramp billed annually in advance, a one-time fee, milestones once
accepted); a rerun and a racing run draft nothing new; the drafts issue and validate like intake's;
bad input is refused with nothing written."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from handoff.cli import app
from handoff.context import AppContext
from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractError,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Frequency,
    Milestone,
    RampStep,
)
from handoff.contracts.service import contracts
from handoff.contracts.service.billing_run import run_billing
from handoff.invoicing.domain.invoices import DocumentStatus, invoice_from_json
from handoff.invoicing.service.issuing import issue_all_drafts
from handoff.kernel.parties import Address, Customer
from handoff.kernel.storage import schema
from handoff.users import service as users
from handoff.users.service import Role
from tests.builders import event, issued_invoices

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


def _version(contract_id: str = "C-1", *, consolidate: bool = False, ramp: bool = True) -> ContractVersion:
    terms = ContractTerms("CUST-9", "ACME-DE", "EUR", "net30", START, po_number="PO-77", consolidate=consolidate)
    subscription = ContractLine(
        "L1",
        "PLAT-ANNUAL",
        "Platform subscription",
        Decimal(1),
        Decimal("10000.00"),
        BillingRule(
            BillingKind.RECURRING,
            frequency=Frequency.ANNUAL,
            end=date(2030, 1, 1),
            ramp=(RampStep(date(2028, 1, 1), Decimal("12000.00")), RampStep(date(2029, 1, 1), Decimal("15000.00")))
            if ramp
            else (),
        ),
    )
    setup = ContractLine(
        "L2", "ONBOARD", "Onboarding", Decimal(1), Decimal("5000.00"), BillingRule(BillingKind.ONE_TIME)
    )
    project = ContractLine(
        "L3",
        "IMPL",
        "Implementation project",
        Decimal(1),
        Decimal("20000.00"),
        BillingRule(
            BillingKind.MILESTONE,
            milestones=(
                Milestone("M1", "Design signed off", percent=Decimal(40)),
                Milestone("M2", "Go-live", percent=Decimal(60)),
            ),
        ),
    )
    return ContractVersion(contract_id, 1, START, terms, (subscription, setup, project))


def _count(ctx: AppContext, table: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _drafts(ctx: AppContext, ids: list[int]) -> list[Any]:
    inv = schema.invoices
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(inv.c.id, inv.c.document).where(inv.c.id.in_(ids)).order_by(inv.c.id)).all()
    return [invoice_from_json(r.document) for r in rows]


def _lines(ctx: AppContext, ids: list[int]) -> list[tuple[str, str, Decimal, date | None, date | None, str]]:
    return [
        (ln.order_ref, ln.contract_line, ln.net_amount, ln.period_start, ln.period_end, ln.trigger)
        for invoice in _drafts(ctx, ids)
        for ln in invoice.lines
    ]


def test_runs_bill_exactly_the_items_due_on_each_day(ctx: AppContext) -> None:
    locked = contracts.lock(ctx, _version(), BUYER, FINANCE, "won quote Q-12")
    assert (locked.version, locked.items) == (1, 6)  # 3 years, a fee, 2 milestones
    assert locked.value == Decimal("62000.00")

    assert run_billing(ctx, date(2026, 12, 31), "w1").drafts == 0
    first = run_billing(ctx, START, "w1")
    assert (first.drafts, first.items, first.failures) == (1, 2, [])
    assert _lines(ctx, first.invoice_ids) == [
        ("C-1", "L1", Decimal("10000.00"), START, date(2027, 12, 31), "date"),
        ("C-1", "L2", Decimal("5000.00"), None, None, "date"),
    ]
    (invoice,) = _drafts(ctx, first.invoice_ids)
    assert invoice.totals.tax == Decimal("2850.00")  # 19 % German VAT on 15,000.00
    assert invoice.order_refs == ("C-1",) and invoice.po_number == "PO-77"
    again = run_billing(ctx, START, "w1")
    assert (again.drafts, again.items) == (0, 0)

    # the milestone bills once it is accepted, and on the day of the acceptance
    contracts.accept_milestone(ctx, "C-1", "M1", date(2027, 3, 15), FINANCE, "evt-1")
    contracts.accept_milestone(ctx, "C-1", "M1", date(2027, 3, 15), FINANCE, "evt-1")  # same event: no-op
    assert run_billing(ctx, date(2027, 3, 14), "w1").drafts == 0
    m1 = run_billing(ctx, date(2027, 3, 15), "w1")
    assert _lines(ctx, m1.invoice_ids) == [("C-1", "L3", Decimal("8000.00"), None, None, "milestone")]

    # a run that was missed catches up: year 2 at the ramped price; the unaccepted M2 waits
    later = run_billing(ctx, date(2029, 6, 1), "w1")
    assert _lines(ctx, later.invoice_ids) == [
        ("C-1", "L1", Decimal("12000.00"), date(2028, 1, 1), date(2028, 12, 31), "date"),
        ("C-1", "L1", Decimal("15000.00"), date(2029, 1, 1), date(2029, 12, 31), "date"),
    ]
    assert run_billing(ctx, date(2031, 1, 1), "w1").drafts == 0
    assert _count(ctx, schema.billed_items) == 5

    view = contracts.show_contract(ctx, "C-1")
    billed = {(i.line_key, i.period_key): (i.status, i.invoice_id) for i in view.items}
    assert billed[("L3", "milestone:M2")] == ("planned", None)
    assert billed[("L1", "2028-01-01")] == ("billed", later.invoice_ids[0])
    assert view.versions[0].content_hash == locked.content_hash == view.current.content_hash
    a = schema.audit_log
    with ctx.engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(a.c.action).order_by(a.c.seq))]
    billed, accepted = "contract.billed", "contract.milestone_accepted"
    assert actions == ["contract.locked", billed, accepted, billed, billed]


def test_a_draft_from_the_run_issues_and_validates(ctx: AppContext) -> None:
    # the customer takes UBL: issuing validates its e-invoice (EN 16931 rules) before numbering it
    contracts.lock(ctx, _version(), replace(BUYER, invoice_format="ubl"), FINANCE, "won quote Q-12")
    result = run_billing(ctx, START, "w1")
    failures: list[tuple[int, str]] = []
    issued = issue_all_drafts(ctx, FINANCE, on=START, failures=failures)
    assert failures == []
    assert len(issued) == 1 and issued[0].status is DocumentStatus.ISSUED and issued[0].number
    assert issued[0].totals.tax_inclusive == Decimal("17850.00")
    assert [ln.contract_line for ln in issued[0].lines] == ["L1", "L2"]
    inv = schema.invoices
    with ctx.engine.connect() as conn:
        q = select(inv.c.status, inv.c.einvoice_validation).where(inv.c.id == result.invoice_ids[0])
        row = conn.execute(q).one()
    assert row.status == "issued"
    assert row.einvoice_validation is not None and row.einvoice_validation["passed"] is True
    view = contracts.show_contract(ctx, "C-1")
    assert {i.invoice_number for i in view.items if i.status == "billed"} == {issued[0].number}


def test_consolidated_contracts_share_one_invoice_per_customer(ctx: AppContext) -> None:
    for cid in ("C-1", "C-2"):
        contracts.lock(ctx, _version(cid, consolidate=True), BUYER, FINANCE, "won")
    contracts.lock(ctx, _version("C-3"), BUYER, FINANCE, "won")
    result = run_billing(ctx, START, "w1")
    assert (result.drafts, result.items) == (2, 6)
    refs = sorted(invoice.order_refs for invoice in _drafts(ctx, result.invoice_ids))
    assert refs == [("C-1", "C-2"), ("C-3",)]


def test_two_runs_racing_bill_each_item_once(ctx: AppContext) -> None:
    ids = [f"C-{n:02d}" for n in range(12)]
    for cid in ids:
        contracts.lock(ctx, _version(cid), BUYER, FINANCE, "won")
    errors: list[BaseException] = []
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(run_billing(ctx, date(2028, 1, 1), threading.current_thread().name, chunk=3))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, name=f"w{n}") for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.drafts for r in results) == len(ids)  # one draft per contract, from one run or the other
    assert sum(r.items for r in results) == 3 * len(ids) == _count(ctx, schema.billed_items)
    assert _count(ctx, schema.invoices) == len(ids)
    assert run_billing(ctx, date(2028, 1, 1), "w3").drafts == 0


def test_bad_input_is_refused_with_nothing_written(ctx: AppContext) -> None:
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won")
    before = (_count(ctx, schema.milestone_acceptances), _count(ctx, schema.audit_log))
    with pytest.raises(ContractError, match="contract C-1 milestone M9: contract C-1 has no milestone M9"):
        contracts.accept_milestone(ctx, "C-1", "M9", START, FINANCE, "evt-9")
    with pytest.raises(ContractError, match="contract C-404 milestone M1: contract C-404 does not exist"):
        contracts.accept_milestone(ctx, "C-404", "M1", START, FINANCE, "evt-9")
    contracts.accept_milestone(ctx, "C-1", "M1", START, FINANCE, "evt-1")
    with pytest.raises(ContractError, match="accepted already on 2027-01-01"):
        contracts.accept_milestone(ctx, "C-1", "M1", START, FINANCE, "evt-2")
    assert (_count(ctx, schema.milestone_acceptances), _count(ctx, schema.audit_log)) == (before[0] + 1, before[1] + 1)

    good = _version("C-2")
    no_price = replace(good, lines=(replace(good.lines[0], unit_price=None), *good.lines[1:]))  # type: ignore[arg-type]
    with pytest.raises(ContractError, match="contract C-2 line L1: unit_price is missing"):
        contracts.lock(ctx, no_price, BUYER, FINANCE, "won")
    with pytest.raises(ContractError, match="contract C-1: contract_id is locked already"):
        contracts.lock(ctx, _version(), BUYER, FINANCE, "again")
    with pytest.raises(ContractError, match=r"buyer\.customer_id"):
        contracts.lock(ctx, good, replace(BUYER, customer_id="CUST-1"), FINANCE, "won")
    assert _count(ctx, schema.contracts) == 1
    assert _count(ctx, schema.contract_versions) == 1
    assert _count(ctx, schema.schedule_items) == 6


def test_the_commands_show_accept_and_run(ctx: AppContext, db_url: str) -> None:
    users.add_user(ctx, FINANCE, Role.FINANCE, "pw-finance-12345", actor="test")
    contracts.lock(ctx, _version(), BUYER, FINANCE, "won")
    runner = CliRunner()
    accepted = runner.invoke(
        app, ["contracts", "accept-milestone", "C-1", "M1", "--on", "2027-01-01", "--actor", FINANCE, "--db", db_url]
    )
    assert accepted.exit_code == 0, accepted.output
    unknown = runner.invoke(
        app, ["contracts", "accept-milestone", "C-1", "M7", "--on", "2027-01-01", "--actor", FINANCE, "--db", db_url]
    )
    assert unknown.exit_code == 2 and "has no milestone M7" in unknown.output
    ran = runner.invoke(app, ["billing", "run", "--date", "2027-01-01", "--actor", FINANCE, "--db", db_url])
    assert ran.exit_code == 0, ran.output
    assert "1 drafts, 3 items" in ran.output
    listed = runner.invoke(app, ["contracts", "list", "--db", db_url])
    assert listed.exit_code == 0 and "C-1" in listed.output and "1 contracts" in listed.output
    shown = runner.invoke(app, ["contracts", "show", "C-1", "--db", db_url], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "milestone:M2" in shown.output and "on acceptance" in shown.output and "draft " in shown.output
    missing = runner.invoke(app, ["contracts", "show", "C-404", "--db", db_url])
    assert missing.exit_code == 2 and "contract C-404: contract_id does not exist" in missing.output


def test_a_contract_from_a_deal_is_billed_through_its_order(ctx: AppContext) -> None:
    # the deal D-1 was won, invoiced by intake and issued; its contract renews the subscription yearly
    first = issued_invoices(ctx, [event("e1", datetime(2026, 11, 1, tzinfo=UTC))], on=date(2026, 11, 2))
    assert [inv.order_refs for inv in first] == [("D-1",)]
    version = replace(_version("D-1", ramp=False), terms=replace(_version().terms, customer_id="C-1"))
    contracts.lock(ctx, version, replace(BUYER, customer_id="C-1"), FINANCE, "won")
    result = run_billing(ctx, START, "w1")
    o, t, link = schema.orders, schema.tasks, schema.invoice_orders
    with ctx.engine.connect() as conn:
        order_id = conn.execute(select(o.c.id).where(o.c.deal_id == "D-1")).scalar_one()
        linked = conn.execute(select(link.c.order_id).where(link.c.invoice_id == result.invoice_ids[0])).scalars()
        assert list(linked) == [order_id]
        task = conn.execute(select(t.c.status).where(t.c.order_id == order_id, t.c.kind == "issue_invoice"))
        assert task.scalar_one() == "open"  # finance reviews the contract's draft as it does a deal's

    (issued,) = issue_all_drafts(ctx, FINANCE, on=START)
    assert issued.order_refs == ("D-1",) and issued.totals.tax_exclusive == Decimal("15000.00")
    with ctx.engine.connect() as conn:
        assert conn.execute(select(o.c.state).where(o.c.id == order_id)).scalar_one() == "sent"
        task = conn.execute(select(t.c.status).where(t.c.order_id == order_id, t.c.kind == "issue_invoice"))
        assert task.scalar_one() == "done"
        a = schema.audit_log
        last = conn.execute(select(a.c.entity_type, a.c.entity_id).where(a.c.action == "invoice.issued")).all()
    assert [tuple(r) for r in last] == [("order", "D-1"), ("order", "D-1")]


def test_an_auto_renewing_subscription_is_planned_on_as_it_renews(ctx: AppContext) -> None:
    monthly = ContractLine(
        "L1",
        "SEATS",
        "Seats",
        Decimal(10),
        Decimal("30.00"),
        BillingRule(BillingKind.RECURRING, frequency=Frequency.MONTHLY, auto_renew=True, renewal_months=12),
    )
    version = ContractVersion("C-9", 1, START, _version().terms, (monthly,))
    locked = contracts.lock(ctx, version, BUYER, FINANCE, "won")
    # planned 24 months ahead: every yearly term that starts by then (2027, 2028, 2029), whole
    assert (locked.through, locked.items) == (date(2029, 1, 1), 36)

    # a run years later plans the renewals on and bills every month up to its day, once
    result = run_billing(ctx, date(2030, 3, 1), "w1")
    assert (result.drafts, result.items) == (1, 39)  # January 2027 to March 2030
    assert result.planned == 36  # the terms 2030 to 2032 (that start by 24 months after the run)
    view = contracts.show_contract(ctx, "C-9")
    assert view.contract.planned_through == date(2032, 3, 1)
    assert max(i.period_start for i in view.items) == date(2032, 12, 1)  # the term that starts by then, whole
    again = run_billing(ctx, date(2030, 3, 1), "w1")
    assert (again.drafts, again.planned) == (0, 0)
