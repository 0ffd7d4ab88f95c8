"""Bank statements and cash application end to end: import (idempotent, all or nothing), automatic
matches applied like payments, the review queue, confirm / reject / undo, the audit chain."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from handoff.audit.service import verify
from handoff.cash.service.cash_application import (
    CashError,
    StatementError,
    apply_cash,
    confirm_match,
    import_statement,
    matches,
    reject_match,
    undo_match,
    unmatched_lines,
)
from handoff.context import AppContext
from handoff.kernel.storage import schema
from tests.builders import by_deal, event, issued_invoices
from tests.camt import Entry, camt053

T0 = datetime(2026, 11, 1, tzinfo=UTC)
CUSTOMERS = {  # deal -> (customer id, legal name, net amount); 19 % German VAT on top
    "D-1": ("C-1", "Kestrel Labs GmbH", "12000.00"),
    "D-2": ("C-2", "Nimbus Foods AG", "1000.00"),
    "D-3": ("C-3", "Orbit Media GmbH", "500.00"),
    "D-4": ("C-4", "Cedar Robotics GmbH", "500.00"),
}


def issue(ctx: AppContext) -> dict[str, Any]:
    events = [
        event(f"e-{deal}", T0, deal_id=deal, customer_id=c, customer_legal_name=name, amount=amount)
        for deal, (c, name, amount) in CUSTOMERS.items()
    ]
    return dict(by_deal(issued_invoices(ctx, events, on=date(2026, 11, 2))))


def statement(inv: dict[str, Any], **kw: Any) -> bytes:
    return camt053(
        [
            Entry(Decimal("14280.00"), "KESTREL LABS", "Payment", inv["D-1"].payment_reference),
            Entry(Decimal("1190.00"), "Nimbus Foods", f"Invoice {inv['D-2'].number.replace('-', ' ')}"),
            Entry(Decimal("595.00"), "", "SEPA transfer"),  # D-3 or D-4? a person decides
            Entry(Decimal("77.70"), "Tax Office", "refund 2025"),  # not ours
            Entry(Decimal("35.00"), "Office supplies", credit=False),  # money out: not for cash application
        ],
        **kw,
    )


def invoice(ctx: AppContext, number: str) -> Any:
    with ctx.engine.connect() as conn:
        return conn.execute(select(schema.invoices).where(schema.invoices.c.number == number)).one()


def counts(ctx: AppContext) -> tuple[int, ...]:
    tables = (schema.bank_statements, schema.bank_lines, schema.cash_matches, schema.payments, schema.audit_log)
    with ctx.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables)


def test_importing_a_statement_twice_changes_nothing(ctx: AppContext) -> None:
    inv = issue(ctx)
    data = statement(inv)
    first = import_statement(ctx, data, "stmt.xml", "finance@test")
    assert (first.new_statements, first.new_lines, first.credits) == (1, 5, 4)
    before = counts(ctx)
    again = import_statement(ctx, data, "stmt-copy.xml", "finance@test")
    assert (again.new_statements, again.new_lines, again.lines) == (0, 0, 5)
    assert counts(ctx) == before


def test_a_refused_file_writes_nothing(ctx: AppContext) -> None:
    inv = issue(ctx)
    before = counts(ctx)
    with pytest.raises(StatementError, match="closing"):
        import_statement(ctx, statement(inv, closing=Decimal("1.00")), "short.xml", "finance@test")
    with pytest.raises(StatementError, match=r"broken\.xml"):
        import_statement(ctx, statement(inv)[:-40], "broken.xml", "finance@test")
    with pytest.raises(StatementError, match="empty file"):
        import_statement(ctx, b"  \n", "empty.xml", "finance@test")
    assert counts(ctx) == before


def test_cash_application_end_to_end(ctx: AppContext) -> None:
    inv = issue(ctx)
    n1, n2, n3, n4 = (inv[d].number for d in ("D-1", "D-2", "D-3", "D-4"))
    import_statement(ctx, statement(inv), "stmt.xml", "finance@test")
    report = apply_cash(ctx)
    assert (report.lines, report.applied, report.review, report.unmatched) == (4, 2, 1, 1)
    assert report.states == {n1: "paid", n2: "paid"}
    assert invoice(ctx, n1).paid_amount == Decimal("14280.00") and invoice(ctx, n2).payment_state == "paid"
    with ctx.engine.connect() as conn:
        states = dict(conn.execute(select(schema.orders.c.deal_id, schema.orders.c.state)).all())
        outbox = conn.execute(
            select(schema.outbox.c.topic, schema.outbox.c.payload).where(schema.outbox.c.channel == "log")
        ).all()
    assert states == {"D-1": "paid", "D-2": "paid", "D-3": "sent", "D-4": "sent"}
    status = [p["status"] for t, p in outbox if t == "payment_status"]
    assert {(s["invoice_number"], s["deal_id"], s["state"]) for s in status} == {
        (n1, "D-1", "paid"),
        (n2, "D-2", "paid"),
    }
    assert any(t == "cash_review" for t, _ in outbox)  # the finance owner hears of the queue

    [queued] = matches(ctx)  # the review queue: the amount fits two invoices
    assert queued["amount"] == Decimal("595.00") and len(queued["allocations"]) == 1
    assert {queued["allocations"][0]["invoice"], *queued["alternatives"]} == {n3, n4}
    [lost] = unmatched_lines(ctx)
    assert lost["counterparty_name"] == "Tax Office" and lost["owner"] == "finance@acme.example"
    assert apply_cash(ctx).lines == 0  # nothing new to match

    chosen = queued["allocations"][0]["invoice"]
    assert confirm_match(ctx, queued["id"], "clerk@acme.example") == {chosen: "paid"}
    with pytest.raises(CashError, match="only a match pending review"):
        confirm_match(ctx, queued["id"], "clerk@acme.example")
    assert matches(ctx) == []

    [auto1] = [m for m in matches(ctx, "applied") if m["allocations"][0]["invoice"] == n1]
    assert auto1["decision"] == "auto" and auto1["decided_by"] == "automation:cash"
    assert undo_match(ctx, auto1["id"], "clerk@acme.example", "payer says it was for another entity") == {n1: "unpaid"}
    restored = invoice(ctx, n1)
    assert (restored.paid_amount, restored.payment_state) == (Decimal("0.00"), "unpaid")
    with ctx.engine.connect() as conn:
        state = conn.execute(select(schema.orders.c.state).where(schema.orders.c.deal_id == "D-1")).scalar_one()
    assert state == "sent"
    with pytest.raises(CashError, match="only an applied match"):
        undo_match(ctx, auto1["id"], "clerk@acme.example")
    assert len(unmatched_lines(ctx)) == 2

    assert verify(ctx)[1] is None
    with ctx.engine.connect() as conn:
        actions = conn.execute(
            select(schema.audit_log.c.action, schema.audit_log.c.actor).where(
                schema.audit_log.c.entity_type == "bank_line"
            )
        ).all()
    assert sorted(actions) == sorted(
        [("cash.match_applied", "automation:cash")] * 2
        + [("cash.match_applied", "clerk@acme.example"), ("cash.match_undone", "clerk@acme.example")]
    )


def test_reject_sends_the_line_to_the_finance_owner(ctx: AppContext) -> None:
    inv = issue(ctx)
    import_statement(ctx, statement(inv), "stmt.xml", "finance@test")
    apply_cash(ctx)
    [queued] = matches(ctx)
    reject_match(ctx, queued["id"], "clerk@acme.example", "customer paid for something else")
    assert matches(ctx) == [] and len(unmatched_lines(ctx)) == 2
    assert invoice(ctx, inv["D-3"].number).payment_state == "unpaid"
    assert verify(ctx)[1] is None


def test_auto_threshold_is_configurable(ctx: AppContext) -> None:
    inv = issue(ctx)
    import_statement(ctx, statement(inv), "stmt.xml", "finance@test")
    report = apply_cash(ctx, threshold=0.999)  # nothing is that sure: everything goes to review
    assert report.applied == 0 and report.review == 3
