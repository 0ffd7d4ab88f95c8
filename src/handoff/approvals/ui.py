"""The browser UI of four-eyes approvals: finance asks for a credit note on an issued invoice's
page, and another finance user or an admin approves or rejects it on the approvals page. The same
use cases as the API, the CLI and Slack's buttons (`app.approvals`), so the same rules hold: the
requester may not approve, a rejection says why, and the first decision is the only one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from handoff.approvals import service as approvals
from handoff.approvals.service import ApprovalError
from handoff.invoicing.service import queries as invoice_queries
from handoff.kernel.money import D, MoneyError
from handoff.users.service import User
from handoff.web.auth import context, ui_user
from handoff.web.pages import FINANCE, WRITERS, error_page, flash_message, render, see_other

router = APIRouter(include_in_schema=False)
MAX_ID = 2**31 - 1
NOTE_LENGTH = 500


async def _text(request: Request, field: str) -> str:
    form = await request.form()
    return str(form.get(field, "")).strip()[:NOTE_LENGTH]


@router.get("/approvals")
def approvals_page(request: Request, user: User = ui_user(*FINANCE)) -> Response:
    ctx = context(request)
    pending = approvals.list_approvals(ctx, "pending", limit=200)
    decided = approvals.list_approvals(ctx, ("approved", "rejected"), limit=20)
    return render(
        request,
        "approvals.html",
        user,
        pending=pending,
        decided=decided.items,
        me=approvals.person(user.actor),
        can_decide=user.role in WRITERS,
    )


@router.post("/approvals/{approval_id}/approve")
async def approve_page(request: Request, approval_id: int, user: User = ui_user(*WRITERS)) -> Response:
    if not 1 <= approval_id <= MAX_ID:
        return error_page(request, 404, f"There is no approval {approval_id}.")
    try:
        done = approvals.approve(context(request), approval_id, user.actor, await _text(request, "note"))
    except ApprovalError as exc:
        flash_message(request, "error", str(exc))
        return see_other("/approvals")
    if done["kind"] == "contract_terms":
        flash_message(request, "ok", f"Terms of contract {done['subject']} approved; it is billed from the next run.")
        return see_other("/approvals")
    flash_message(request, "ok", f"Credit note for {done['subject']} approved; its draft is below, to issue.")
    return see_other(f"/invoices/{done['result_invoice_id']}")


@router.post("/approvals/{approval_id}/reject")
async def reject_page(request: Request, approval_id: int, user: User = ui_user(*WRITERS)) -> Response:
    if not 1 <= approval_id <= MAX_ID:
        return error_page(request, 404, f"There is no approval {approval_id}.")
    try:
        done = approvals.reject(context(request), approval_id, user.actor, await _text(request, "note"))
        requester = approvals.person(done["requested_by"])
        terms = done["kind"] == "contract_terms"
        what = f"Terms of contract {done['subject']}" if terms else f"Credit note for {done['subject']}"
        flash_message(request, "ok", f"{what} rejected; {requester} is told why.")
    except ApprovalError as exc:
        flash_message(request, "error", str(exc))
    return see_other("/approvals")


@router.post("/invoices/{invoice_id}/void")
async def void_page(request: Request, invoice_id: int, user: User = ui_user(*WRITERS)) -> Response:
    if not 1 <= invoice_id <= MAX_ID:
        return error_page(request, 404, f"There is no invoice {invoice_id}.")
    try:
        approval = approvals.void_credit_note(context(request), invoice_id, user.actor, await _text(request, "reason"))
        flash_message(
            request,
            "ok",
            f"Credit-note draft voided: it will not be issued, and what it credited on "
            f"{approval['subject']} can be credited again.",
        )
    except ApprovalError as exc:
        if exc.code == "not_found":
            return error_page(request, 404, f"There is no invoice {invoice_id}.")
        flash_message(request, "error", f"Not voided: {exc}")
    return see_other(f"/invoices/{invoice_id}")


@router.post("/invoices/{invoice_id}/credit-notes")
async def request_credit_note_page(request: Request, invoice_id: int, user: User = ui_user(*WRITERS)) -> Response:
    ctx = context(request)
    detail = invoice_queries.invoice_detail(ctx, invoice_id) if 1 <= invoice_id <= MAX_ID else None
    if detail is None:
        return error_page(request, 404, f"There is no invoice {invoice_id}.")
    back = f"/invoices/{invoice_id}"
    if detail["kind"] != "invoice" or detail["status"] != "issued":
        flash_message(request, "error", "Only an issued invoice can be credited.")
        return see_other(back)
    try:
        quantities = _quantities(await request.form(), detail["lines"])
        asked = approvals.request_credit_note(
            ctx, detail["number"], await _text(request, "reason"), user.actor, quantities or None
        )
    except (MoneyError, ApprovalError) as exc:
        flash_message(request, "error", f"Not requested: {exc}")
        return see_other(back)
    gross = asked["payload"]["gross"]
    flash_message(
        request,
        "ok",
        f"Credit note of {gross} {asked['payload']['currency']} on {detail['number']} "
        "requested. It waits for another finance user or an admin to approve it.",
    )
    return see_other(back)


def _quantities(form: Any, lines: list[dict[str, Any]]) -> dict[int, Decimal]:
    """The quantities typed per invoice line (`quantity_N`); none typed: everything left uncredited."""
    wanted = {}
    for line in lines:
        raw = str(form.get(f"quantity_{line['line_no']}", "")).strip()
        if raw:
            try:
                wanted[int(line["line_no"])] = D(raw)
            except MoneyError as exc:
                raise MoneyError(f"line {line['line_no']}: {raw!r} is not a quantity") from exc
    return wanted
