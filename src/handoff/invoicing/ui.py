"""The invoicing pages for finance: the task board, invoices with their filters, an invoice with
its lines, payments and credit notes, and issuing a draft (finance and admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from handoff.approvals import service as approvals
from handoff.invoicing.service import queries as invoice_queries
from handoff.invoicing.service.issuing import InvoicingError, issue_draft
from handoff.users.service import User
from handoff.web.auth import context, ui_user
from handoff.web.pages import FINANCE, PAGE, WRITERS, error_page, flash_message, render, see_other

router = APIRouter(include_in_schema=False)


@router.get("/tasks")
def tasks_page(request: Request, user: User = ui_user(*FINANCE)) -> Response:
    ctx = context(request)
    open_tasks = invoice_queries.list_tasks(ctx, status="open", limit=200)
    done = invoice_queries.list_tasks(ctx, status="done", limit=10)
    columns: dict[str, list[dict[str, Any]]] = {"issue_invoice": [], "review_amendment": []}
    for t in open_tasks.items:
        columns.setdefault(t["kind"], []).append(t)
    return render(
        request,
        "tasks.html",
        user,
        columns=columns,
        open_total=open_tasks.total,
        done=done.items,
        can_issue=user.role in WRITERS,
    )


@router.get("/invoices")
def invoices_page(
    request: Request,
    status: str = "",
    payment_state: str = "",
    overdue: str = "",
    customer: str = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    user: User = ui_user(*FINANCE),
) -> Response:
    found = invoice_queries.list_invoices(
        context(request),
        status=status or None,
        payment_state=payment_state or None,
        overdue=True if overdue == "1" else None,
        customer=customer or None,
        limit=PAGE,
        offset=(page - 1) * PAGE,
    )
    return render(
        request,
        "invoices.html",
        user,
        page=found,
        page_no=page,
        status=status,
        payment_state=payment_state,
        overdue=overdue,
        customer=customer,
    )


@router.get("/invoices/{invoice_id}")
def invoice_page(request: Request, invoice_id: int, user: User = ui_user(*FINANCE)) -> Response:
    if not 1 <= invoice_id < 2**31:
        return error_page(request, 404, f"There is no invoice {invoice_id}.")
    ctx = context(request)
    detail = invoice_queries.invoice_detail(ctx, invoice_id)
    if detail is None:
        return error_page(request, 404, f"There is no invoice {invoice_id}.")
    credits = (
        approvals.list_approvals(ctx, None, limit=50, subject=detail["number"]).items
        if detail["kind"] == "invoice" and detail["number"]
        else []
    )
    return render(request, "invoice.html", user, inv=detail, credits=credits, can_issue=user.role in WRITERS)


@router.post("/invoices/{invoice_id}/issue")
def issue_page(request: Request, invoice_id: int, user: User = ui_user(*WRITERS)) -> Response:
    try:
        issued = issue_draft(context(request), invoice_id, user.actor)
        flash_message(request, "ok", f"Invoice {issued.number} issued and sent to {issued.buyer.billing_email}.")
    except InvoicingError as exc:
        flash_message(request, "error", str(exc))
    return see_other(f"/invoices/{invoice_id}")
