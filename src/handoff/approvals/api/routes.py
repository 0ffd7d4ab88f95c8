"""API: credit notes asked for by one person and approved by another (four-eyes).

A request answers 202: nothing is credited until someone else approves. Decisions that the
approval's state refuses answer 409 with a stable code: `not_pending` (already decided),
`same_person` (the requester may not approve), `not_creditable` (the invoice cannot be credited
as asked), `not_voidable` (not a credit-note draft)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from handoff.approvals import service as approvals
from handoff.approvals.api.schemas import Approval, ApprovalPage, CreditNoteIn, DecisionIn, RejectionIn, VoidIn
from handoff.approvals.service import ApprovalError
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx, InvoiceId, Limit, Offset
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import page_out, plain

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["approvals"])
READERS = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)
WRITERS = (Role.FINANCE, Role.ADMIN)
ApprovalId = Annotated[int, Path(ge=1, le=2**31 - 1)]
InvoiceNumber = Annotated[str, Path(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9._-]+$")]
STATUS = {"not_found": 404, "invalid": 422}


def _api_error(exc: ApprovalError, field: str | None = None) -> ApiError:
    status = STATUS.get(exc.code, 409)
    code = {"invalid": "invalid_request"}.get(exc.code, exc.code)
    return ApiError(status, code, str(exc), field)


@router.post("/invoices/{number}/credit-notes", response_model=Approval, status_code=202)
def request_credit_note(ctx: Ctx, number: InvoiceNumber, body: CreditNoteIn, user: User = api_user(*WRITERS)) -> Any:
    """Ask for a credit note on an issued invoice. It waits for another finance user or admin."""
    quantities = {int(n): Decimal(q) for n, q in body.quantities.items()} if body.quantities is not None else None
    try:
        return plain(approvals.request_credit_note(ctx, number, body.reason, user.actor, quantities))
    except ApprovalError as exc:
        raise _api_error(exc, "number" if exc.code == "not_found" else None) from exc


@router.get("/approvals", response_model=ApprovalPage)
def list_approvals(
    ctx: Ctx,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str | None, Query(pattern="^(pending|approved|rejected)$")] = "pending",
    user: User = api_user(*READERS),
) -> Any:
    """Approvals, newest first (pending by default)."""
    return page_out(approvals.list_approvals(ctx, status, limit, offset))


@router.post("/approvals/{approval_id}/approve", response_model=Approval)
def approve(ctx: Ctx, approval_id: ApprovalId, body: DecisionIn | None = None, user: User = api_user(*WRITERS)) -> Any:
    """Approve a pending request made by someone else: the credit-note draft is created."""
    try:
        return plain(approvals.approve(ctx, approval_id, user.actor, body.note if body else ""))
    except ApprovalError as exc:
        raise _api_error(exc, "approval_id" if exc.code == "not_found" else None) from exc


@router.post("/approvals/{approval_id}/reject", response_model=Approval)
def reject(ctx: Ctx, approval_id: ApprovalId, body: RejectionIn, user: User = api_user(*WRITERS)) -> Any:
    """Reject a pending request, saying why."""
    try:
        return plain(approvals.reject(ctx, approval_id, user.actor, body.note))
    except ApprovalError as exc:
        raise _api_error(exc, "approval_id" if exc.code == "not_found" else None) from exc


@router.post("/credit-notes/{invoice_id}/void", response_model=Approval)
def void_credit_note(ctx: Ctx, invoice_id: InvoiceId, body: VoidIn, user: User = api_user(*WRITERS)) -> Any:
    """Void a credit-note draft before it is issued, saying why; its quantities are free again.
    Answers the approval the draft came from."""
    try:
        return plain(approvals.void_credit_note(ctx, invoice_id, user.actor, body.reason))
    except ApprovalError as exc:
        raise _api_error(exc, "invoice_id" if exc.code == "not_found" else None) from exc
