"""API: the review of a deal amended after invoicing (a `review_amendment` finance task): the
difference per line, old and new, and the steps that resolve it (finance and admins): bill the
difference (201, an invoice draft to issue), credit it (202, credit-note requests waiting for a
second person) or dismiss it with a reason. Steps the review's state refuses answer 409 with a
stable code: `already_resolved`, `nothing_to_bill`, `nothing_to_credit`, `not_creditable`,
`not_billable`, `changed` (the deal changed since `version`), `not_review`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import Field

from handoff.invoicing.service import amendments
from handoff.invoicing.service.amendments import AmendmentError, Review, Step
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import In, Out, ShortText, Text, plain

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["finance tasks"])
READERS = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)
WRITERS = (Role.FINANCE, Role.ADMIN)
TaskId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Version = Field(None, description="the deal version the difference was read at (`version_event`); refused if newer")


class Change(Out):
    description: str
    vat: str = Field(description="VAT category and rate, as `S 19%`")
    old_quantity: str
    old_amount: str = Field(description="net, as the deal's invoices bill it today")
    old_prices: list[str]
    new_quantity: str
    new_amount: str = Field(description="net, as the new version bills it")
    new_prices: list[str]
    difference: str


class BillLine(Out):
    position: int = Field(description="the new version's line it bills")
    description: str
    quantity: str
    unit_price: str
    net: str
    raises: str | None = Field(description="a price adjustment: the invoiced unit price it raises")


class CreditLine(Out):
    invoice_id: int
    invoice_number: str
    line_no: int
    description: str
    quantity: str
    unit_price: str
    net: str


class Difference(Out):
    changes: list[Change]
    to_bill: list[BillLine]
    to_credit: list[CreditLine]
    waiting: list[str] = Field(description="credit that waits for an invoice draft to be issued")
    bill_net: str
    credit_net: str


class Resolution(Out):
    id: int
    action: Literal["bill", "credit", "dismiss"]
    reason: str
    resolved_by: str
    resolved_at: datetime
    version_event: str
    invoice_id: int | None = Field(description="bill: the invoice draft for the difference")
    approval_ids: list[int] = Field(description="credit: its credit-note requests")


class TaskReview(Out):
    id: int
    deal_id: str
    kind: str
    status: str
    note: str
    assignee: str | None
    created_at: datetime
    done_at: datetime | None
    version_event: str
    version_at: datetime
    currency: str
    problems: list[str] = Field(description="why the new version cannot be billed (then only dismiss)")
    difference: Difference | None
    resolutions: list[Resolution] = Field(description="the steps taken, newest first")


class StepOut(Out):
    resolution_id: int
    action: Literal["bill", "credit", "dismiss"]
    task_status: str = Field(description="done, or open while the other side of a mixed change is left")
    left: str = Field(description="what is still to decide when the task stays open")
    net: str
    invoice_id: int | None
    approval_ids: list[int]
    task: TaskReview


class BillIn(In):
    note: Text = Field("", description="why (audited); default: the new version bills more")
    version: ShortText | None = Version


class CreditIn(In):
    reason: Text = Field("", description="printed on the credit notes; default: the deal was amended")
    version: ShortText | None = Version


class DismissIn(In):
    reason: Text = Field(min_length=1, description="why nothing is billed or credited (audited)")
    version: ShortText | None = Version


def review_out(shown: Review) -> dict[str, Any]:
    """A review as `TaskReview` (shared with the pages)."""
    diff = shown.difference
    out: dict[str, Any] = plain(
        {
            **shown.task._asdict(),
            "version_event": shown.version_event,
            "version_at": shown.version_at,
            "currency": shown.currency,
            "problems": list(shown.problems),
            "difference": None
            if diff is None
            else {
                "changes": [{**_fields(c), "difference": c.difference} for c in diff.changes],
                "to_bill": [{**_fields(b), "net": b.net} for b in diff.to_bill],
                "to_credit": [{**_fields(c), "invoice_number": c.number, "net": c.net} for c in diff.to_credit],
                "waiting": list(diff.waiting),
                "bill_net": diff.bill_net,
                "credit_net": diff.credit_net,
            },
            "resolutions": [r._asdict() for r in shown.resolutions],
        }
    )
    return out


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


def _error(exc: AmendmentError) -> ApiError:
    if exc.code == "not_found":
        return ApiError(404, "not_found", str(exc), "task_id")
    if exc.code == "invalid":
        return ApiError(422, "invalid_request", str(exc), exc.field)
    return ApiError(409, exc.code, str(exc), exc.field)


def _step(ctx: Ctx, step: Step) -> dict[str, Any]:
    out: dict[str, Any] = plain({**step.__dict__, "task": review_out(amendments.review(ctx, step.task_id))})
    return out


@router.get("/tasks/{task_id}", response_model=TaskReview)
def get_review(ctx: Ctx, task_id: TaskId, user: User = api_user(*READERS)) -> Any:
    """An amendment review: the difference between the deal's new version and what its invoices
    bill, line by line, and the steps taken so far."""
    try:
        return review_out(amendments.review(ctx, task_id))
    except AmendmentError as exc:
        raise _error(exc) from exc


@router.post("/tasks/{task_id}/bill", response_model=StepOut, status_code=201)
def bill(ctx: Ctx, task_id: TaskId, body: BillIn | None = None, user: User = api_user(*WRITERS)) -> Any:
    """Bill what the new version bills more: an invoice draft for the difference only, to issue."""
    body = body or BillIn()
    try:
        return _step(ctx, amendments.bill_difference(ctx, task_id, user.actor, body.note, body.version))
    except AmendmentError as exc:
        raise _error(exc) from exc


@router.post("/tasks/{task_id}/credit", response_model=StepOut, status_code=202)
def credit(ctx: Ctx, task_id: TaskId, body: CreditIn | None = None, user: User = api_user(*WRITERS)) -> Any:
    """Ask for credit notes for what the new version bills less; someone else approves them."""
    body = body or CreditIn()
    try:
        return _step(ctx, amendments.credit_difference(ctx, task_id, user.actor, body.reason, body.version))
    except AmendmentError as exc:
        raise _error(exc) from exc


@router.post("/tasks/{task_id}/dismiss", response_model=StepOut)
def dismiss(ctx: Ctx, task_id: TaskId, body: DismissIn, user: User = api_user(*WRITERS)) -> Any:
    """Close the review without billing or crediting anything, saying why."""
    try:
        return _step(ctx, amendments.dismiss(ctx, task_id, user.actor, body.reason, body.version))
    except AmendmentError as exc:
        raise _error(exc) from exc
