"""Reviewing a deal amended after invoicing: finance bills the difference, credits it or dismisses it.

Intake opens the order's `review_amendment` task when a new version of an invoiced deal arrives
(and reopens it for a later one); the order then holds the newest version, and what was invoiced
is what the deal's invoices bill today, earlier differences and credits included
(`domain.amendments.difference`). From the task:

- `bill_difference`: an invoice draft for the increase only, built from the new version's draft
  (its parties, terms, VAT), then issued through the normal issue path;
- `credit_difference`: credit-note requests for the decrease (one per invoice it takes back from)
  through the four-eyes path: someone other than the requester approves each; a rejected request
  or a voided credit-note draft reopens the review (`approvals.service`);
- `dismiss`: nothing is billed or credited; a reason is required.

A change up on one line and down on another needs both steps, in either order: the review stays
open, saying what is left, until both are done (or the rest is dismissed). A price decrease is
such a change too: the quantity is credited at its invoiced price and billed again at the new one.
A step on a review that is done is refused (`already_resolved`), as is a step with nothing left on
its side (`nothing_to_bill`, `nothing_to_credit`): the order row is locked (PostgreSQL; SQLite
serialises writers) before the task is read, so two people resolving at once queue and the second
sees what the first did. Each step is audited on the order (who, when, why, before and after) and
recorded in `amendment_resolutions` with the difference as it stood.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from handoff.approvals import service as approvals
from handoff.approvals.service import ApprovalError
from handoff.context import AppContext
from handoff.deals.domain.drafting import render_draft
from handoff.deals.domain.readiness import check
from handoff.invoicing.domain.amendments import Difference, billed_lines, difference, difference_invoice
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceError, invoice_from_json
from handoff.invoicing.repository.amendments import (
    REVIEW,
    AmendedOrder,
    AmendmentRepository,
    Resolution,
    ReviewTask,
)
from handoff.kernel.encoding import to_jsonable
from handoff.kernel.money import ZERO
from handoff.kernel.storage.unit_of_work import UnitOfWork

BILL, CREDIT, DISMISS = "bill", "credit", "dismiss"
REASON_LENGTH = 500


class AmendmentError(Exception):
    """A step the review's state does not allow. `code` is stable: `not_found`, `not_review` (the
    task is not an amendment review), `already_resolved`, `changed` (the deal changed since the
    difference was shown), `not_billable` (the new version cannot be drafted), `nothing_to_bill`,
    `nothing_to_credit`, `not_creditable` (a draft to issue first, or the credit refused),
    `invalid` (a missing reason: `field`)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.field = code, field


@dataclass(frozen=True)
class Review:
    """A review as finance decides on it: the task, the deal version, the difference (None with
    `problems` when the new version cannot be drafted) and the steps taken so far, newest first."""

    task: ReviewTask
    version_event: str
    version_at: datetime
    currency: str
    problems: tuple[str, ...]
    difference: Difference | None
    resolutions: tuple[Resolution, ...]

    @property
    def open(self) -> bool:
        return self.task.status == "open"


@dataclass(frozen=True)
class Step:
    """What one step did: its record, the invoice draft or credit requests it made, and whether
    the review is done or still open (what is left)."""

    task_id: int
    resolution_id: int
    action: str
    task_status: str
    invoice_id: int | None
    approval_ids: tuple[int, ...]
    net: Decimal  # the net amount billed or asked back; 0 for a dismissal
    left: str  # what is still to decide, when the review stays open


def review(ctx: AppContext, task_id: int) -> Review:
    """The review of task `task_id` with the difference as it stands now (reads only)."""
    repo = AmendmentRepository(ctx.engine)
    task = _task(repo, task_id)
    order = repo.order(task.order_id)
    diff, problems = _compare(repo, ctx, order)[:2]
    return _review(repo, task, order, diff, problems)


def _review(
    repo: AmendmentRepository,
    task: ReviewTask,
    order: AmendedOrder,
    diff: Difference | None,
    problems: tuple[str, ...],
) -> Review:
    return Review(
        task,
        order.version_event,
        order.version_at,
        order.deal.get("currency").upper(),
        problems,
        diff,
        tuple(repo.resolutions(task.id)),
    )


def bill_difference(ctx: AppContext, task_id: int, actor: str, note: str = "", version: str | None = None) -> Step:
    """Bill what the new version bills more: one invoice draft for the difference only, linked to
    the order, to be issued like any draft."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo, task, order = _begin(uow, task_id, version)
        diff, new = _billable(repo, ctx, order)
        if not diff.to_bill:
            raise AmendmentError(
                "nothing_to_bill", f"task {task_id}: {order.deal_id}'s new version bills nothing more than is invoiced"
            )
        why = note.strip()[:REASON_LENGTH] or "the new version bills more"
        draft = _difference_draft(diff, new, order, repo)
        record = _record(diff)
        # the draft's price adjustment lines (its lines are the difference's, in order)
        record["raises"] = {str(n): str(b.raises) for n, b in enumerate(diff.to_bill, 1) if b.raises is not None}
        resolution_id = repo.add_resolution(task, order.version_event, BILL, why, actor, now, record)
        invoice_id = repo.add_difference_draft(resolution_id, order.id, draft, now)
        left = "" if not (diff.to_credit or diff.waiting) else _credit_left(diff, _currency(order))
        status = _after_step(repo, uow, task, actor, now, left)
        uow.audit(
            at=now,
            actor=actor,
            action="amendment.billed",
            entity_type="order",
            entity_id=order.deal_id,
            reason=why,
            before={"task": "open", "version": order.version_event, "billed_net": _old_net(diff)},
            after={
                "task": status,
                "invoice_draft": invoice_id,
                "net": draft.totals.tax_exclusive,
                "gross": draft.totals.tax_inclusive,
                "currency": draft.currency,
                "lines": [to_jsonable(b) for b in diff.to_bill],
            },
        )
        uow.commit()
    return Step(task_id, resolution_id, BILL, status, invoice_id, (), draft.totals.tax_exclusive, left)


def credit_difference(ctx: AppContext, task_id: int, actor: str, reason: str = "", version: str | None = None) -> Step:
    """Ask for credit notes for what the new version bills less: one request per invoice it takes
    back from, each to be approved by someone other than `actor`."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo, task, order = _begin(uow, task_id, version)
        diff, _ = _billable(repo, ctx, order)
        if diff.waiting:
            raise AmendmentError("not_creditable", f"task {task_id}: " + "; ".join(diff.waiting))
        if not diff.to_credit:
            raise AmendmentError(
                "nothing_to_credit",
                f"task {task_id}: {order.deal_id}'s new version bills nothing less than is invoiced",
            )
        why = reason.strip()[:REASON_LENGTH] or f"deal {order.deal_id} amended after invoicing"
        origin = {"task_id": task.id, "deal_id": order.deal_id}
        try:
            approval_ids = [
                approvals.ask_for_credit_note(uow, ctx, now, number, why, actor, quantities, origin)
                for number, quantities in sorted(diff.credits_by_invoice().items())
            ]
        except ApprovalError as exc:
            raise AmendmentError("not_creditable", f"task {task_id}: {exc}") from exc
        resolution_id = repo.add_resolution(
            task, order.version_event, CREDIT, why, actor, now, _record(diff), approval_ids
        )
        left = "" if not diff.to_bill else f"{diff.bill_net} {_currency(order)} still to bill (or dismiss)"
        status = _after_step(repo, uow, task, actor, now, left)
        uow.audit(
            at=now,
            actor=actor,
            action="amendment.credit_requested",
            entity_type="order",
            entity_id=order.deal_id,
            reason=why,
            before={"task": "open", "version": order.version_event, "billed_net": _old_net(diff)},
            after={
                "task": status,
                "approvals": approval_ids,
                "net": diff.credit_net,
                "currency": _currency(order),
                "quantities": {n: {str(k): str(q) for k, q in v.items()} for n, v in diff.credits_by_invoice().items()},
            },
        )
        uow.commit()
    return Step(task_id, resolution_id, CREDIT, status, None, tuple(approval_ids), diff.credit_net, left)


def dismiss(ctx: AppContext, task_id: int, actor: str, reason: str, version: str | None = None) -> Step:
    """Close the review without billing or crediting anything, saying why."""
    why = reason.strip()[:REASON_LENGTH]
    if not why:
        raise AmendmentError("invalid", "dismissing an amendment needs a reason", "reason")
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        repo, task, order = _begin(uow, task_id, version)
        diff, problems, _ = _compare(repo, ctx, order)
        record = _record(diff) if diff is not None else {"problems": list(problems)}
        resolution_id = repo.add_resolution(task, order.version_event, DISMISS, why, actor, now, record)
        status = _after_step(repo, uow, task, actor, now, "")
        uow.audit(
            at=now,
            actor=actor,
            action="amendment.dismissed",
            entity_type="order",
            entity_id=order.deal_id,
            reason=why,
            before={"task": "open", "version": order.version_event},
            after={
                "task": status,
                "not_billed": diff.bill_net if diff is not None else None,
                "not_credited": diff.credit_net if diff is not None else None,
            },
        )
        uow.commit()
    return Step(task_id, resolution_id, DISMISS, status, None, (), ZERO, "")


# -- the steps' common parts ---------------------------------------------------------------------


def _task(repo: AmendmentRepository, task_id: int, lock: bool = False) -> ReviewTask:
    task = repo.task(task_id, lock=lock)
    if task is None:
        raise AmendmentError("not_found", f"no task {task_id}", "task_id")
    if task.kind != REVIEW:
        raise AmendmentError(
            "not_review", f"task {task_id} is an {task.kind} task: it is done by issuing the deal's invoice draft"
        )
    return task


def _begin(uow: UnitOfWork, task_id: int, version: str | None) -> tuple[AmendmentRepository, ReviewTask, AmendedOrder]:
    """The open review and its order, the order locked first (as intake locks it) so that steps
    on one review, and a newer version arriving, queue."""
    repo = uow.repository(AmendmentRepository)
    order = repo.order(_task(repo, task_id).order_id, lock=True)
    task = _task(repo, task_id, lock=True)
    if task.status != "open":
        raise AmendmentError("already_resolved", _resolved(repo, task))
    if version and version != order.version_event:
        raise AmendmentError(
            "changed",
            f"task {task_id}: deal {order.deal_id} changed since (version {order.version_event}, not {version}); "
            "look at the difference again",
            "version",
        )
    return repo, task, order


def _resolved(repo: AmendmentRepository, task: ReviewTask) -> str:
    steps = repo.resolutions(task.id)
    if not steps:
        return f"task {task.id} is {task.status}"
    last = steps[0]
    done = {BILL: "billed", CREDIT: "credited", DISMISS: "dismissed"}[last.action]
    return (
        f"task {task.id} is already resolved: {done} by {last.resolved_by.removeprefix('user:')} "
        f"at {last.resolved_at:%Y-%m-%d %H:%M} UTC ({last.reason})"
    )


def _compare(
    repo: AmendmentRepository, ctx: AppContext, order: AmendedOrder
) -> tuple[Difference | None, tuple[str, ...], Invoice | None]:
    """The difference between the order's new version and what its invoices bill; with the
    problems instead when the new version cannot be drafted (then only dismissing is possible)."""
    invoices = repo.deal_invoices(order.id)
    claimed = repo.claimed(i.number for i in invoices if i.number)
    raises = repo.raises(order.id)
    billed = [
        line
        for inv in invoices
        for line in billed_lines(
            inv.id,
            inv.invoice,
            order.deal_id,
            claimed.get(inv.number or "", {}) if inv.status is DocumentStatus.ISSUED else {},
            raises.get(inv.id, {}),
        )
    ]
    problems = tuple(p.message for p in check(order.deal, ctx.config.ruleset))
    if problems:
        return None, problems, None
    try:
        new = invoice_from_json(orjson.loads(render_draft(order.deal, ctx.config).document))
    except (ValueError, KeyError, ArithmeticError) as exc:
        return None, (f"the new version cannot be drafted: {exc}",), None
    return difference(billed, new), (), new


def _billable(repo: AmendmentRepository, ctx: AppContext, order: AmendedOrder) -> tuple[Difference, Invoice]:
    diff, problems, new = _compare(repo, ctx, order)
    if diff is None or new is None:
        raise AmendmentError(
            "not_billable",
            f"deal {order.deal_id}'s new version cannot be billed ({'; '.join(problems)}): fix the deal or dismiss",
        )
    return diff, new


def _difference_draft(diff: Difference, new: Invoice, order: AmendedOrder, repo: AmendmentRepository) -> Invoice:
    numbers = [i.number for i in repo.deal_invoices(order.id) if i.number]
    note = f"Difference for the amendment of deal {order.deal_id}" + (
        f" (invoiced on {', '.join(numbers)})" if numbers else ""
    )
    try:
        return difference_invoice(new, diff.to_bill, note)
    except InvoiceError as exc:
        raise AmendmentError("not_billable", f"deal {order.deal_id}: {exc}") from exc


def _after_step(
    repo: AmendmentRepository, uow: UnitOfWork, task: ReviewTask, actor: str, now: datetime, left: str
) -> str:
    """Close the review when nothing is left to decide, else say on it what is."""
    if left:
        repo.set_note(task.id, f"partly resolved: {left}")
        return "open"
    if not repo.close(task.id, actor, now):
        raise AmendmentError("already_resolved", _resolved(repo, task))
    return "done"


def _credit_left(diff: Difference, currency: str) -> str:
    if diff.waiting:
        return "to credit once the invoice draft is issued: " + "; ".join(diff.waiting)
    return f"{diff.credit_net} {currency} still to credit (or dismiss)"


def _currency(order: AmendedOrder) -> str:
    return order.deal.get("currency").upper()


def _old_net(diff: Difference) -> Decimal:
    return sum((c.old_amount for c in diff.changes), ZERO)


def _record(diff: Difference) -> dict[str, Any]:
    """The difference as it stood, for the step's record."""
    record: dict[str, Any] = to_jsonable(diff)
    record["bill_net"], record["credit_net"] = str(diff.bill_net), str(diff.credit_net)
    return record
