"""The invoicing pages for finance: the task board, invoices with their filters, an invoice with
its lines, payments and credit notes, issuing a draft and changing an issued invoice's billing
contact, the review of a deal amended after invoicing (finance and admins resolve it), and
customers' credit: balances, applying credit to an open invoice, refunds (finance and admins act)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from handoff.approvals import service as approvals
from handoff.invoicing.service import amendments, contacts, credits
from handoff.invoicing.service import queries as invoice_queries
from handoff.invoicing.service.amendments import AmendmentError
from handoff.invoicing.service.contacts import ContactError
from handoff.invoicing.service.credits import CreditError
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


@router.post("/invoices/{invoice_id}/billing-contact")
async def billing_contact_page(request: Request, invoice_id: int, user: User = ui_user(*WRITERS)) -> Response:
    """Finance changes an issued invoice's billing contact, with a reason (the same use case as the
    API and CLI); the flash says what happened, or which field was wrong."""
    if not 1 <= invoice_id < 2**31:
        return error_page(request, 404, f"There is no invoice {invoice_id}.")
    form = await request.form()
    try:
        done = contacts.change_billing_contact(
            context(request),
            invoice_id,
            email=str(form.get("billing_email", "")),
            name=str(form.get("billing_contact_name", "")),
            reason=str(form.get("reason", "")),
            actor=user.actor,
            resend=form.get("resend") == "1",
        )
    except ContactError as exc:
        flash_message(request, "error", f"Not changed: {exc}")
        return see_other(f"/invoices/{invoice_id}")
    said = f"Billing contact of {done.number} is now {done.after.email}." if done.changed else "Nothing changed."
    if done.resent:
        said += f" The invoice was sent again to {done.after.email}."
    flash_message(request, "ok", said)
    return see_other(f"/invoices/{invoice_id}")


@router.post("/invoices/{invoice_id}/issue")
def issue_page(request: Request, invoice_id: int, user: User = ui_user(*WRITERS)) -> Response:
    try:
        issued = issue_draft(context(request), invoice_id, user.actor)
        flash_message(request, "ok", f"Invoice {issued.number} issued and sent to {issued.buyer.billing_email}.")
    except InvoicingError as exc:
        flash_message(request, "error", str(exc))
    return see_other(f"/invoices/{invoice_id}")


# -- the review of a deal amended after invoicing (a `review_amendment` task) ----------------------

TASK_ID_MAX = 2**31 - 1


async def _form_text(request: Request, field: str) -> str:
    form = await request.form()
    return str(form.get(field, "")).strip()[: amendments.REASON_LENGTH]


@router.get("/tasks/{task_id}")
def review_page(request: Request, task_id: int, user: User = ui_user(*FINANCE)) -> Response:
    """The difference between an amended deal and what its invoices bill, and the steps to resolve it."""
    if not 1 <= task_id <= TASK_ID_MAX:
        return error_page(request, 404, f"There is no task {task_id}.")
    try:
        shown = amendments.review(context(request), task_id)
    except AmendmentError as exc:
        if exc.code == "not_found":
            return error_page(request, 404, f"There is no task {task_id}.")
        flash_message(request, "error", str(exc))
        return see_other("/tasks")
    return render(request, "task.html", user, review=shown, can_resolve=user.role in WRITERS)


@router.post("/tasks/{task_id}/bill")
async def bill_page(request: Request, task_id: int, user: User = ui_user(*WRITERS)) -> Response:
    """Bill the difference: an invoice draft for it, shown next to be issued."""
    return await _resolve(request, task_id, "bill", user)


@router.post("/tasks/{task_id}/credit")
async def credit_page(request: Request, task_id: int, user: User = ui_user(*WRITERS)) -> Response:
    """Credit the difference: credit-note requests that someone else approves."""
    return await _resolve(request, task_id, "credit", user)


@router.post("/tasks/{task_id}/dismiss")
async def dismiss_page(request: Request, task_id: int, user: User = ui_user(*WRITERS)) -> Response:
    """Dismiss the review, saying why: nothing is billed or credited."""
    return await _resolve(request, task_id, "dismiss", user)


async def _resolve(request: Request, task_id: int, step: str, user: User) -> Response:
    if not 1 <= task_id <= TASK_ID_MAX:
        return error_page(request, 404, f"There is no task {task_id}.")
    ctx, back = context(request), f"/tasks/{task_id}"
    version = await _form_text(request, "version") or None
    text = await _form_text(request, "note" if step == "bill" else "reason")
    try:
        if step == "bill":
            done = amendments.bill_difference(ctx, task_id, user.actor, text, version)
        elif step == "credit":
            done = amendments.credit_difference(ctx, task_id, user.actor, text, version)
        else:
            done = amendments.dismiss(ctx, task_id, user.actor, text, version)
    except AmendmentError as exc:
        if exc.code == "not_found":
            return error_page(request, 404, f"There is no task {task_id}.")
        flash_message(request, "error", f"Not done: {exc}")
        return see_other(back)
    left = f" Still open: {done.left}." if done.left else ""
    if step == "bill":
        message = f"Invoice draft {done.invoice_id} bills the difference ({done.net} net): issue it here.{left}"
        flash_message(request, "ok", message)
        return see_other(f"/invoices/{done.invoice_id}")
    if step == "credit":
        asked = ", ".join(str(a) for a in done.approval_ids)
        message = f"Credit of {done.net} net requested (approval {asked}): someone else approves it.{left}"
        flash_message(request, "ok", message)
    else:
        flash_message(request, "ok", "Amendment dismissed: nothing billed or credited.")
    return see_other(back)


# -- customers' credit: the balances, applying credit to an invoice, refunds ---------------------


def _amount(text: str) -> Decimal | None:
    """A form's amount (None when left empty); an unreadable one is NaN, which the use case refuses."""
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("NaN")


@router.get("/credits")
def credits_page(request: Request, customer: str = "", user: User = ui_user(*FINANCE)) -> Response:
    """Customers' credit balances (by selling entity and currency), where credit went, and, for
    finance, refunds; credit is applied on an open invoice's page."""
    ctx = context(request)
    wanted = customer.strip()[:200] or None
    return render(
        request,
        "credits.html",
        user,
        balances=credits.balances(ctx, wanted),
        used=list(reversed(credits.allocations(ctx, wanted, limit=200))),
        customer=customer,
        can_act=user.role in WRITERS,
        today=ctx.clock().date(),
    )


@router.post("/invoices/{invoice_id}/apply-credit")
async def apply_credit_page(request: Request, invoice_id: int, user: User = ui_user(*WRITERS)) -> Response:
    """Apply the customer's credit to this open invoice (the amount given, or as much as fits)."""
    if not 1 <= invoice_id < 2**31:
        return error_page(request, 404, f"There is no invoice {invoice_id}.")
    ctx = context(request)
    detail = invoice_queries.invoice_detail(ctx, invoice_id)
    if detail is None or not detail["number"]:
        return error_page(request, 404, f"There is no issued invoice {invoice_id}.")
    form = await request.form()
    try:
        done = credits.apply_credit(
            ctx, detail["number"], user.actor, _amount(str(form.get("amount", ""))), str(form.get("note", ""))[:500]
        )
    except CreditError as exc:
        flash_message(request, "error", f"No credit applied: {exc}")
        return see_other(f"/invoices/{invoice_id}")
    flash_message(
        request,
        "ok",
        f"{done.amount:,.2f} {done.currency} of credit applied to {done.invoice}; "
        f"{done.open_amount or 0:,.2f} still open, {done.balance:,.2f} of credit left.",
    )
    return see_other(f"/invoices/{invoice_id}")


@router.post("/credits/refund")
async def refund_page(request: Request, user: User = ui_user(*WRITERS)) -> Response:
    """Record credit paid back to a customer, with the bank transfer's reference."""
    form = await request.form()
    customer = str(form.get("customer_id", ""))[:200]
    back = "/credits?" + urlencode({"customer": customer})
    on: date | None = None
    if str(form.get("paid_on", "")).strip():
        try:
            on = date.fromisoformat(str(form.get("paid_on", "")).strip())
        except ValueError:
            flash_message(request, "error", "Not refunded: the date must be YYYY-MM-DD.")
            return see_other(back)
    try:
        done = credits.refund_credit(
            context(request),
            customer,
            str(form.get("legal_entity", ""))[:40],
            str(form.get("currency", ""))[:3],
            _amount(str(form.get("amount", ""))) or Decimal(0),
            user.actor,
            reference=str(form.get("reference", ""))[:200],
            on=on,
            note=str(form.get("note", ""))[:500],
        )
    except CreditError as exc:
        flash_message(request, "error", f"Not refunded: {exc}")
        return see_other(back)
    flash_message(
        request,
        "ok",
        f"Refund of {done.amount:,.2f} {done.currency} to {done.customer_id} recorded; "
        f"{done.balance:,.2f} of credit left.",
    )
    return see_other(back)
