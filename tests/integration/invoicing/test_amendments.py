"""A deal amended after invoicing, resolved from its review task (on SQLite and PostgreSQL): the
difference is billed (an invoice draft for the difference only, issued the normal way), credited
(credit-note requests a second person approves) or dismissed with a reason; earlier differences
and credits count; a resolved review is not resolved twice, not even by two people at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from handoff.approvals import service as approvals
from handoff.approvals.service import ApprovalError
from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service.intake import ingest
from handoff.invoicing.service import amendments
from handoff.invoicing.service.amendments import AmendmentError
from handoff.invoicing.service.issuing import issue_draft
from handoff.invoicing.service.ledger import invoice_document
from handoff.kernel.storage import schema
from tests.builders import deal_with_lines, event, issued_invoices

T0 = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
FIN, BOSS = "finance@acme.example", "boss@acme.example"
D = Decimal


def version(event_id: str, hours: int, *lines: tuple[str, str, str]) -> DealEvent:
    """Deal D-1 with these (description, quantity, unit price) lines, `hours` after T0."""
    amount = sum((D(q) * D(p) for _, q, p in lines), D(0))
    deal = deal_with_lines(
        [{"description": d, "quantity": q, "unit_price": p} for d, q, p in lines], amount=f"{amount:.2f}"
    )
    return DealEvent("crm", event_id, T0 + timedelta(hours=hours), deal)


def review_task(ctx: AppContext) -> int:
    t = schema.tasks
    with ctx.engine.connect() as conn:
        found: int = conn.execute(select(t.c.id).where(t.c.kind == "review_amendment")).scalar_one()
    return found


def task_status(ctx: AppContext, task_id: int) -> str:
    with ctx.engine.connect() as conn:
        status: str = conn.execute(select(schema.tasks.c.status).where(schema.tasks.c.id == task_id)).scalar_one()
    return status


def invoices(ctx: AppContext) -> list[tuple[Any, ...]]:
    inv = schema.invoices
    with ctx.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(select(inv.c.id, inv.c.kind, inv.c.status, inv.c.net_amount).order_by(inv.c.id))
        ]


def approval_count(ctx: AppContext) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.approvals)).scalar_one())


def audit(ctx: AppContext, action: str) -> list[dict[str, Any]]:
    log = schema.audit_log
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(log.c.actor, log.c.entity_id, log.c.reason, log.c.before, log.c.after)
            .where(log.c.action == action)
            .order_by(log.c.seq)
        )
        return [dict(r._mapping) for r in rows]


def refused(code: str, call: Any, *args: Any, **kwargs: Any) -> AmendmentError:
    with pytest.raises(AmendmentError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def test_a_higher_price_bills_exactly_the_difference_and_the_draft_issues(ctx: AppContext) -> None:
    [first] = issued_invoices(ctx, [event("v1", T0)])  # 12,000.00 net, DE 19 %
    with ctx.engine.connect() as conn:
        invoiced_at = conn.execute(select(schema.orders.c.invoiced_at)).scalar_one()
    ingest(ctx, [event("v2", T0 + timedelta(hours=1), amount="15000.00")])
    task = review_task(ctx)
    shown = amendments.review(ctx, task)
    assert shown.version_event == "v2" and shown.problems == () and shown.difference is not None
    [change] = shown.difference.changes
    assert (change.old_amount, change.new_amount, change.difference) == (D("12000.00"), D("15000.00"), 3000)
    assert shown.difference.bill_net == D("3000.00") and shown.difference.to_credit == ()

    step = amendments.bill_difference(ctx, task, FIN, note="price raised to 15k", version="v2")
    assert (step.action, step.task_status, step.net) == ("bill", "done", D("3000.00"))
    assert step.invoice_id is not None
    with ctx.unit_of_work() as uow:
        draft = invoice_document(uow, step.invoice_id)
    assert draft is not None and draft.is_draft
    assert [(ln.quantity, ln.unit_price, ln.net_amount, ln.note) for ln in draft.lines] == [
        (D("1"), D("3000.00"), D("3000.00"), "Price change from 12000.00 to 15000.00 per unit")
    ]
    assert (draft.totals.tax_exclusive, draft.totals.tax, draft.totals.tax_inclusive) == (
        D("3000.00"),
        D("570.00"),
        D("3570.00"),
    )
    assert f"invoiced on {first.number}" in draft.notes[-1]
    assert task_status(ctx, task) == "done"

    issued = issue_draft(ctx, step.invoice_id, FIN)  # the normal issue path
    assert issued.number and issued.number != first.number and issued.totals.tax_inclusive == D("3570.00")
    with ctx.engine.connect() as conn:
        order = conn.execute(select(schema.orders.c.state, schema.orders.c.invoiced_at)).one()
    assert tuple(order) == ("sent", invoiced_at)  # still the first invoice's state and cycle
    assert amendments.review(ctx, task).difference.nothing  # type: ignore[union-attr]
    [billed] = audit(ctx, "amendment.billed")
    assert (billed["actor"], billed["entity_id"], billed["reason"]) == (FIN, "D-1", "price raised to 15k")
    assert billed["before"]["billed_net"] == "12000.00" and billed["after"]["invoice_draft"] == step.invoice_id
    assert billed["after"]["task"] == "done"


def test_a_lower_version_asks_for_a_credit_that_a_second_person_approves(ctx: AppContext) -> None:
    [first] = issued_invoices(ctx, [version("v1", 0, ("Licences", "10", "100.00"), ("Onboarding", "1", "500.00"))])
    ingest(ctx, [version("v2", 1, ("Licences", "8", "100.00"))])
    task = review_task(ctx)
    step = amendments.credit_difference(ctx, task, FIN, reason="two licences returned, no onboarding")
    assert (step.action, step.task_status, step.net, step.invoice_id) == ("credit", "done", D("700.00"), None)
    [approval_id] = step.approval_ids
    asked = approvals.get_approval(ctx, approval_id)
    assert (asked["status"], asked["subject"], asked["requested_by"]) == ("pending", first.number, FIN)
    assert asked["payload"]["quantities"] == {"1": "2", "2": "1"} and asked["payload"]["gross"] == "833.00"
    assert asked["payload"]["amendment"] == {"task_id": task, "deal_id": "D-1"}
    assert amendments.review(ctx, task).difference.nothing  # type: ignore[union-attr]  # asked for counts

    with pytest.raises(ApprovalError) as own:
        approvals.approve(ctx, approval_id, FIN)
    assert own.value.code == "same_person"
    done = approvals.approve(ctx, approval_id, BOSS, "agreed")
    credit = issue_draft(ctx, done["result_invoice_id"], BOSS)
    assert credit.number and credit.number.startswith("CRN-") and credit.corrects == first.number
    assert credit.totals.tax_inclusive == D("833.00")
    [asked_audit] = audit(ctx, "amendment.credit_requested")
    assert asked_audit["actor"] == FIN and asked_audit["after"]["approvals"] == [approval_id]


def test_a_lower_price_needs_both_steps_and_each_side_is_done_once(ctx: AppContext) -> None:
    issued_invoices(ctx, [version("v1", 0, ("Licences", "10", "100.00"))])
    ingest(ctx, [version("v2", 1, ("Licences", "10", "80.00"))])
    task = review_task(ctx)
    diff = amendments.review(ctx, task).difference
    assert diff is not None and (diff.credit_net, diff.bill_net) == (D("1000.00"), D("800.00"))

    billed = amendments.bill_difference(ctx, task, FIN)
    assert billed.task_status == "open" and "1000.00 EUR still to credit" in billed.left
    before = invoices(ctx)
    refused("nothing_to_bill", amendments.bill_difference, ctx, task, FIN)
    assert invoices(ctx) == before

    credited = amendments.credit_difference(ctx, task, FIN, reason="price lowered to 80")
    assert credited.task_status == "done" and len(credited.approval_ids) == 1
    for call in (amendments.bill_difference, amendments.credit_difference):
        refused("already_resolved", call, ctx, task, FIN)
    refused("already_resolved", amendments.dismiss, ctx, task, FIN, "again")
    assert invoices(ctx) == before and approval_count(ctx) == 1


def test_dismissing_needs_a_reason_and_bills_nothing(ctx: AppContext) -> None:
    issued_invoices(ctx, [event("v1", T0)])
    ingest(ctx, [event("v2", T0 + timedelta(hours=1), amount="9000.00")])
    task = review_task(ctx)
    before = invoices(ctx)
    assert refused("invalid", amendments.dismiss, ctx, task, FIN, "  ").field == "reason"
    step = amendments.dismiss(ctx, task, FIN, "discount agreed verbally, settled next year")
    assert (step.action, step.task_status) == ("dismiss", "done")
    assert invoices(ctx) == before and approval_count(ctx) == 0
    [dismissed] = audit(ctx, "amendment.dismissed")
    assert dismissed["reason"] == "discount agreed verbally, settled next year"
    assert dismissed["after"] == {"task": "done", "not_billed": "9000.00", "not_credited": "12000.00"}
    again = refused("already_resolved", amendments.credit_difference, ctx, task, BOSS)
    assert f"dismissed by {FIN}" in str(again)
    [record] = amendments.review(ctx, task).resolutions
    assert (record.action, record.resolved_by, record.version_event) == ("dismiss", FIN, "v2")


def test_the_difference_counts_earlier_differences_and_credits(ctx: AppContext) -> None:
    [first] = issued_invoices(ctx, [version("v1", 0, ("Licences", "10", "100.00"))])
    ingest(ctx, [version("v2", 1, ("Licences", "12", "100.00"))])
    task = review_task(ctx)
    second = issue_draft(ctx, amendments.bill_difference(ctx, task, FIN).invoice_id or 0, FIN)
    assert second.totals.tax_exclusive == D("200.00")

    ingest(ctx, [version("v3", 2, ("Licences", "12", "120.00"))])  # reopens the review
    assert task_status(ctx, task) == "open" and review_task(ctx) == task
    raised = amendments.bill_difference(ctx, task, FIN)
    third = issue_draft(ctx, raised.invoice_id or 0, FIN)
    assert [(ln.quantity, ln.unit_price) for ln in third.lines] == [(D("12"), D("20.00"))]

    ingest(ctx, [version("v4", 3, ("Licences", "11", "120.00"))])
    credited = amendments.credit_difference(ctx, task, FIN, reason="one licence fewer")
    asked = [approvals.get_approval(ctx, a) for a in credited.approval_ids]
    # the newest billing is taken back: a unit of the second invoice, with its price adjustment
    assert sorted((a["subject"], a["payload"]["quantities"]) for a in asked) == sorted(
        [(second.number, {"1": "1"}), (third.number, {"1": "1"})]
    )
    assert credited.net == D("120.00") and first.number not in {a["subject"] for a in asked}
    assert amendments.review(ctx, task).difference.nothing  # type: ignore[union-attr]


def test_a_rejected_credit_reopens_the_review(ctx: AppContext) -> None:
    issued_invoices(ctx, [version("v1", 0, ("Licences", "10", "100.00"))])
    ingest(ctx, [version("v2", 1, ("Licences", "7", "100.00"))])
    task = review_task(ctx)
    [approval_id] = amendments.credit_difference(ctx, task, FIN).approval_ids
    assert task_status(ctx, task) == "done"
    approvals.reject(ctx, approval_id, BOSS, "the customer keeps all ten")
    assert task_status(ctx, task) == "open"
    [reopened] = audit(ctx, "task.reopened")
    assert reopened["actor"] == BOSS and "the customer keeps all ten" in reopened["reason"]
    diff = amendments.review(ctx, task).difference
    assert diff is not None and diff.credit_net == D("300.00")
    assert amendments.dismiss(ctx, task, FIN, "customer keeps them, as the approver said").task_status == "done"


def test_two_people_resolving_at_once_make_one_invoice(ctx: AppContext) -> None:
    issued_invoices(ctx, [event("v1", T0)])
    ingest(ctx, [event("v2", T0 + timedelta(hours=1), amount="15000.00")])
    task = review_task(ctx)
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def resolve(actor: str) -> None:
        start.wait()
        try:
            outcomes.append(amendments.bill_difference(ctx, task, actor))
        except AmendmentError as exc:
            outcomes.append(exc.code)

    people = [threading.Thread(target=resolve, args=(who,)) for who in (FIN, BOSS)]
    for p in people:
        p.start()
    for p in people:
        p.join()
    assert sorted(type(o).__name__ for o in outcomes) == ["Step", "str"]
    assert "already_resolved" in outcomes
    assert [r for r in invoices(ctx) if r[2] == "draft"] and len(invoices(ctx)) == 2


def test_what_cannot_be_resolved_is_refused_with_a_reason(ctx: AppContext) -> None:
    issued_invoices(ctx, [event("v1", T0)])
    ingest(ctx, [event("v2", T0 + timedelta(hours=1), amount="15000.00")])
    task = review_task(ctx)
    assert refused("changed", amendments.bill_difference, ctx, task, FIN, version="v1").field == "version"
    refused("not_found", amendments.bill_difference, ctx, 999, FIN)
    with ctx.engine.connect() as conn:
        issue_task = conn.execute(select(schema.tasks.c.id).where(schema.tasks.c.kind == "issue_invoice")).scalar_one()
    refused("not_review", amendments.dismiss, ctx, issue_task, FIN, "x")
    refused("nothing_to_credit", amendments.credit_difference, ctx, task, FIN)
    # a newer version that is not ready: nothing can be billed from it, only dismissed
    ingest(ctx, [event("v3", T0 + timedelta(hours=2), amount="15000.00", billing_email="")])
    shown = amendments.review(ctx, task)
    assert shown.difference is None and any("billing_email" in p for p in shown.problems)
    refused("not_billable", amendments.bill_difference, ctx, task, FIN)
    assert amendments.dismiss(ctx, task, FIN, "billing e-mail removed by mistake in the CRM").task_status == "done"
    assert len(invoices(ctx)) == 1


def test_a_discounted_line_is_credited_as_billed_and_billed_again_with_its_discount(ctx: AppContext) -> None:
    def licences(event_id: str, hours: int, quantity: str, net: str) -> DealEvent:
        lines = [{"description": "Licences", "quantity": quantity, "unit_price": "100.00", "discount": "10%"}]
        return DealEvent("crm", event_id, T0 + timedelta(hours=hours), deal_with_lines(lines, amount=net))

    [first] = issued_invoices(ctx, [licences("v1", 0, "10", "900.00")])
    assert first.totals.tax_exclusive == D("900.00")
    ingest(ctx, [licences("v2", 1, "12", "1080.00")])
    task = review_task(ctx)
    diff = amendments.review(ctx, task).difference
    assert diff is not None and (diff.credit_net, diff.bill_net) == (D("900.00"), D("1080.00"))
    billed = amendments.bill_difference(ctx, task, FIN)
    assert billed.task_status == "open" and billed.net == D("1080.00")
    issued = issue_draft(ctx, billed.invoice_id or 0, FIN)
    assert [(ln.quantity, ln.net_amount, bool(ln.allowances)) for ln in issued.lines] == [(D("12"), D("1080.00"), True)]
    credited = amendments.credit_difference(ctx, task, FIN, reason="twelve licences, billed anew")
    assert credited.task_status == "done"
    assert approvals.get_approval(ctx, credited.approval_ids[0])["payload"]["gross"] == "1071.00"
