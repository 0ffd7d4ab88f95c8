"""Issued credit notes settle the invoice they correct: the open amount is gross - payments -
credits; a credit above what is open leaves a customer credit balance (per customer, selling
entity and currency) that finance applies to another open invoice or refunds. Dunning, the
dashboard, the digest and cash application see the open amount."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from handoff.approvals import service as approvals
from handoff.audit.service import verify
from handoff.cash.formats.payment_file import PaymentRow
from handoff.cash.service.cash_application import apply_cash, import_statement
from handoff.cash.service.payments import apply_payments
from handoff.collections.service import run_dunning
from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.invoicing.service import credits
from handoff.invoicing.service.credits import CreditError
from handoff.invoicing.service.issuing import issue_draft
from handoff.kernel.storage import schema
from handoff.reporting.service import digest, metrics
from tests.builders import deal_with_lines, issued_invoices, line
from tests.camt import Entry, camt053
from tests.contract.test_xero import with_targets

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ASKER, APPROVER = "sales.lead@acme.example", "finance.lead@acme.example"
LATE = date(2027, 3, 1)  # long after every due date: all dunning levels are due
# a French business buying services from ACME-DE: reverse charge, so gross = net = 12,000.00
FR = {"country": "FR", "vat_id": "FR40303265045", "customer_id": "C-FR", "customer_legal_name": "Lumière SARL"}


def issue(ctx: AppContext, *deal_ids: str, **changes: Any) -> dict[str, str]:
    """Issue one 12,000.00 EUR invoice (three lines of 4,000.00) per deal; deal id -> number."""
    events = [
        DealEvent("crm", f"e-{d}", T0, deal_with_lines([line(), line(), line()], deal_id=d, **{**FR, **changes}))
        for d in deal_ids
    ]
    return {inv.order_refs[0]: inv.number or "" for inv in issued_invoices(ctx, events, on=date(2026, 11, 2))}


def pay(ctx: AppContext, number: str, amount: str, key: str = "p1") -> None:
    apply_payments(ctx, [PaymentRow(1, number, Decimal(amount), date(2026, 11, 10), "bank", key)], "bank", "import")


def credit(ctx: AppContext, number: str, quantities: dict[int, Decimal] | None = None) -> str:
    """Ask for, approve (someone else) and issue a credit note; its number."""
    asked = approvals.request_credit_note(ctx, number, "customer cancelled", ASKER, quantities)
    done = approvals.approve(ctx, asked["id"], APPROVER)
    return issue_draft(ctx, done["result_invoice_id"], APPROVER, on=date(2026, 11, 20)).number or ""


def row(ctx: AppContext, number: str) -> Any:
    with ctx.engine.connect() as conn:
        return conn.execute(select(schema.invoices).where(schema.invoices.c.number == number)).one()


def chased(ctx: AppContext) -> dict[str, Decimal]:
    """What a dunning dry run long after the due dates would chase: invoice -> amount asked for."""
    return {lt.reminder.invoice_number: lt.reminder.amount_open for lt in run_dunning(ctx, LATE, dry_run=True).letters}


def test_full_credit_on_a_half_paid_invoice_settles_it_and_leaves_customer_credit(ctx: AppContext) -> None:
    number = issue(ctx, "D-1")["D-1"]
    assert row(ctx, number).gross_amount == Decimal("12000.00")
    pay(ctx, number, "6000.00")
    assert chased(ctx) == {number: Decimal("6000.00")}

    crn = credit(ctx, number)

    inv = row(ctx, number)
    assert (inv.payment_state, inv.paid_amount, inv.credited_amount) == (
        "credited",
        Decimal("6000.00"),
        Decimal("6000.00"),
    )
    assert chased(ctx) == {}  # a settled invoice is never chased
    assert run_dunning(ctx, LATE, dry_run=True).overdue == 0
    [balance] = credits.balances(ctx)
    assert (balance.customer_id, balance.legal_entity, balance.currency, balance.amount) == (
        "C-FR",
        "ACME-DE",
        "EUR",
        Decimal("6000.00"),
    )
    facts = credits.invoice_credits(ctx, number)
    assert [(a.credit_note, a.kind, a.amount) for a in facts.allocations] == [(crn, "corrected", Decimal("6000.00"))]
    assert facts.open_amount == Decimal("0.00")
    with ctx.engine.connect() as conn:
        actions = list(
            conn.execute(
                select(schema.audit_log.c.action)
                .where(schema.audit_log.c.entity_id == number)
                .order_by(schema.audit_log.c.seq)
            ).scalars()
        )
    assert "invoice.credit_applied" in actions and verify(ctx)[1] is None


def test_a_settled_invoice_is_open_nowhere(ctx: AppContext, clock: Any) -> None:
    numbers = issue(ctx, "D-1", "D-2")
    pay(ctx, numbers["D-1"], "6000.00")
    credit(ctx, numbers["D-1"])
    # 24,000.00 invoiced less a 12,000.00 credit note in the window; 12,000.00 open: 90 days' sales
    assert metrics.compute(ctx).dso_days == {"EUR": 90.0}
    clock.now = datetime(2027, 3, 1, 9, tzinfo=UTC)
    m = metrics.compute(ctx)
    assert m.dso_days == {"EUR": None}  # nothing invoiced in the last 90 days
    assert (m.overdue_invoices, m.overdue_by_currency) == (1, {"EUR": Decimal("12000.00")})
    assert m.open_receivables_by_currency == {"EUR": Decimal("12000.00")}
    assert m.receivables_aging["EUR"]["61-90 days"] == Decimal("12000.00")  # D-2, 89 days past due
    assert sum(m.receivables_aging["EUR"].values()) == Decimal("12000.00")
    d = digest.build(ctx)
    assert [i["number"] for i in d.overdue] == [numbers["D-2"]] and d.overdue_total == {"EUR": Decimal("12000.00")}
    # a bank line quoting the settled invoice's number does not settle it a second time
    data = camt053([Entry(Decimal("6000.00"), "Lumière SARL", f"Invoice {numbers['D-1']}")])
    import_statement(ctx, data, "st.xml", "finance")
    report = apply_cash(ctx)
    assert numbers["D-1"] not in report.states
    assert row(ctx, numbers["D-1"]).paid_amount == Decimal("6000.00")


def test_a_partial_credit_reduces_what_is_open_and_dunning_chases_the_rest(ctx: AppContext) -> None:
    number = issue(ctx, "D-1")["D-1"]
    credit(ctx, number, {1: Decimal("1")})  # one line of 4,000.00
    inv = row(ctx, number)
    assert (inv.payment_state, inv.paid_amount, inv.credited_amount) == ("unpaid", Decimal("0.00"), Decimal("4000.00"))
    assert chased(ctx) == {number: Decimal("8000.00")}
    assert credits.balances(ctx) == []
    pay(ctx, number, "8000.00")
    assert row(ctx, number).payment_state == "credited"  # nothing open; a credit note took part
    assert chased(ctx) == {}
    assert order_state(ctx, "D-1") == "paid"  # the customer paid all it owed


def test_an_unpaid_invoice_credited_in_full_is_settled_and_its_order_stays_invoiced(ctx: AppContext) -> None:
    number = issue(ctx, "D-1")["D-1"]
    credit(ctx, number)
    inv = row(ctx, number)
    assert (inv.payment_state, inv.paid_amount, inv.credited_amount) == ("credited", Decimal("0"), Decimal("12000.00"))
    assert chased(ctx) == {} and credits.balances(ctx) == []
    assert order_state(ctx, "D-1") == "sent"  # invoiced and cancelled by credit: never paid


def order_state(ctx: AppContext, deal_id: str) -> str:
    with ctx.engine.connect() as conn:
        state: str = conn.execute(select(schema.orders.c.state).where(schema.orders.c.deal_id == deal_id)).scalar_one()
    return state


def test_credit_is_applied_to_another_open_invoice_of_the_customer(ctx: AppContext) -> None:
    numbers = issue(ctx, "D-1", "D-2")
    pay(ctx, numbers["D-1"], "6000.00")
    crn = credit(ctx, numbers["D-1"])
    with pytest.raises(CreditError) as too_much:
        credits.apply_credit(ctx, numbers["D-2"], "finance@acme.example", Decimal("6000.01"))
    assert too_much.value.field == "amount" and "6,000.00" in str(too_much.value)
    assert row(ctx, numbers["D-2"]).credited_amount == Decimal("0")  # nothing half-written

    applied = credits.apply_credit(ctx, numbers["D-2"], "finance@acme.example", note="agreed on the phone")
    assert applied.amount == Decimal("6000.00") and applied.balance == Decimal("0.00")
    inv = row(ctx, numbers["D-2"])
    assert (inv.payment_state, inv.credited_amount) == ("unpaid", Decimal("6000.00"))
    assert chased(ctx) == {numbers["D-2"]: Decimal("6000.00")}
    assert credits.balances(ctx) == []
    assert [(a.credit_note, a.kind) for a in credits.invoice_credits(ctx, numbers["D-2"]).allocations] == [
        (crn, "applied")
    ]
    with pytest.raises(CreditError) as nothing_left:
        credits.apply_credit(ctx, numbers["D-2"], "finance@acme.example")
    assert nothing_left.value.code == "no_credit"
    with ctx.engine.connect() as conn:
        audit = conn.execute(
            select(schema.audit_log.c.actor, schema.audit_log.c.after).where(
                schema.audit_log.c.action == "customer_credit.applied"
            )
        ).one()
    assert audit.actor == "finance@acme.example" and audit.after["invoice"] == numbers["D-2"]


def test_credit_is_not_applied_across_entities_or_currencies(ctx: AppContext) -> None:
    numbers = issue(ctx, "D-1")
    usd = issue(ctx, "D-9", currency="USD")
    pay(ctx, numbers["D-1"], "12000.00")
    credit(ctx, numbers["D-1"])  # all of it becomes credit in EUR
    with pytest.raises(CreditError) as other:
        credits.apply_credit(ctx, usd["D-9"], "finance@acme.example")
    assert other.value.code == "no_credit" and "USD" in str(other.value)
    with pytest.raises(CreditError) as settled:
        credits.apply_credit(ctx, numbers["D-1"], "finance@acme.example")
    assert settled.value.code == "not_open"


def test_credit_balance_is_refunded_once(ctx: AppContext) -> None:
    number = issue(ctx, "D-1")["D-1"]
    pay(ctx, number, "6000.00")
    crn = credit(ctx, number)
    with pytest.raises(CreditError) as too_much:
        credits.refund_credit(
            ctx, "C-FR", "ACME-DE", "EUR", Decimal("7000.00"), "finance@acme.example", reference="SEPA-1"
        )
    assert too_much.value.field == "amount"
    refund = credits.refund_credit(
        ctx,
        "C-FR",
        "ACME-DE",
        "EUR",
        Decimal("6000.00"),
        "finance@acme.example",
        reference="SEPA-1",
        on=date(2026, 11, 25),
    )
    assert refund.amount == Decimal("6000.00") and refund.balance == Decimal("0.00")
    assert credits.balances(ctx) == []
    assert [(r.credit_note, r.amount, r.reference) for r in credits.refunds(ctx, "C-FR")] == [
        (crn, Decimal("6000.00"), "SEPA-1")
    ]
    with pytest.raises(CreditError) as none_left:
        credits.refund_credit(ctx, "C-FR", "ACME-DE", "EUR", Decimal("1.00"), "finance@acme.example", reference="x")
    assert none_left.value.code == "no_credit"
    with pytest.raises(CreditError) as bad:
        credits.refund_credit(ctx, "C-FR", "ACME-DE", "EUR", Decimal("-1"), "finance@acme.example", reference="x")
    assert bad.value.field == "amount"
    with ctx.engine.connect() as conn:
        actions = set(conn.execute(select(schema.audit_log.c.action)).scalars())
    assert "customer_credit.refunded" in actions and verify(ctx)[1] is None


def outbox(ctx: AppContext, channel: str) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(schema.outbox.c.key, schema.outbox.c.payload).where(schema.outbox.c.channel == channel)
        )
        return {r.key: r.payload for r in rows}


def test_allocations_and_refunds_are_pushed_to_accounting(ctx: AppContext) -> None:
    ctx = with_targets(ctx, accounting=["generic_rest"])
    numbers = issue(ctx, "D-1", "D-2")
    pay(ctx, numbers["D-1"], "6000.00")
    crn = credit(ctx, numbers["D-1"])
    allocations = {k: p for k, p in outbox(ctx, "generic_rest").items() if p["type"] == "credit_allocation"}
    [first] = allocations.values()
    assert first == {
        "type": "credit_allocation",
        "allocation_key": first["allocation_key"],
        "credit_note_number": crn,
        "invoice_number": numbers["D-1"],
        "amount": "6000.00",
        "currency": "EUR",
        "date": "2026-11-20",
        "seller": "ACME-DE",
    }
    credits.apply_credit(ctx, numbers["D-2"], "finance@acme.example", Decimal("2000.00"))
    credits.refund_credit(ctx, "C-FR", "ACME-DE", "EUR", Decimal("4000.00"), "finance@acme.example", reference="R-1")
    pushed = outbox(ctx, "generic_rest").values()
    assert sorted(
        (p["type"], p.get("invoice_number", ""), p["amount"])
        for p in pushed
        if p["type"] in ("credit_allocation", "credit_refund")
    ) == [
        ("credit_allocation", numbers["D-1"], "6000.00"),
        ("credit_allocation", numbers["D-2"], "2000.00"),
        ("credit_refund", "", "4000.00"),
    ]
    refund = next(p for p in pushed if p["type"] == "credit_refund")
    assert (refund["credit_note_number"], refund["reference"], refund["seller"]) == (crn, "R-1", "ACME-DE")


def test_two_applications_at_once_never_settle_an_invoice_twice(ctx: AppContext) -> None:
    numbers = issue(ctx, "D-1", "D-2", "D-3")
    for n, deal in enumerate(("D-1", "D-2")):  # paid in full, then credited: 24,000.00 of credit
        pay(ctx, numbers[deal], "12000.00", key=f"p{n}")
        credit(ctx, numbers[deal])
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def apply() -> None:
        start.wait()
        try:
            credits.apply_credit(ctx, numbers["D-3"], "finance@acme.example")
            outcomes.append("applied")
        except CreditError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=apply) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["applied", "not_open"]
    inv = row(ctx, numbers["D-3"])
    assert (inv.credited_amount, inv.payment_state) == (Decimal("12000.00"), "credited")
    assert [b.amount for b in credits.balances(ctx)] == [Decimal("12000.00")]


def test_csv_of_payments_on_a_credited_invoice_counts_as_overpayment(ctx: AppContext, tmp_path: Path) -> None:
    number = issue(ctx, "D-1")["D-1"]
    credit(ctx, number)
    pay(ctx, number, "100.00")
    inv = row(ctx, number)
    assert (inv.payment_state, inv.paid_amount, inv.credited_amount) == (
        "credited",
        Decimal("100.00"),
        Decimal("12000.00"),
    )
    assert credits.invoice_credits(ctx, number).open_amount == Decimal("-100.00")


def test_a_payment_and_a_credit_application_at_once_take_turns(ctx: AppContext) -> None:
    numbers = issue(ctx, "D-1", "D-2")
    pay(ctx, numbers["D-1"], "12000.00", key="p0")
    credit(ctx, numbers["D-1"])  # 12,000.00 of credit
    outcomes: dict[str, str] = {}
    start = threading.Barrier(2)

    def apply() -> None:
        start.wait()
        try:
            credits.apply_credit(ctx, numbers["D-2"], "finance@acme.example")
            outcomes["credit"] = "applied"
        except CreditError as exc:
            outcomes["credit"] = exc.code

    def payment() -> None:
        start.wait()
        pay(ctx, numbers["D-2"], "12000.00", key="p1")
        outcomes["payment"] = "applied"

    threads = [threading.Thread(target=apply), threading.Thread(target=payment)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    inv = row(ctx, numbers["D-2"])
    facts = credits.invoice_credits(ctx, numbers["D-2"])
    # neither overwrote the other: the columns are what payments and allocations add up to
    assert inv.paid_amount == Decimal("12000.00")
    assert inv.credited_amount == sum((a.amount for a in facts.allocations), Decimal(0))
    if outcomes["credit"] == "applied":  # credit first, then the customer paid on top of it
        assert (inv.credited_amount, inv.payment_state) == (Decimal("12000.00"), "credited")
        assert credits.balances(ctx) == []
    else:  # the payment settled it first: no credit went to a settled invoice
        assert outcomes["credit"] == "not_open"
        assert (inv.credited_amount, inv.payment_state) == (Decimal("0"), "paid")
        assert [b.amount for b in credits.balances(ctx)] == [Decimal("12000.00")]
