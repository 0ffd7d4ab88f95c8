"""The payments page for finance: payments received, newest first, and a form to apply one by
hand to an issued invoice (finance and admins)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from handoff.cash.service import queries as payment_queries
from handoff.cash.service.payments import apply_payment
from handoff.deals.formats import IntakeError
from handoff.users.service import User
from handoff.web.auth import context, ui_user
from handoff.web.pages import FINANCE, PAGE, WRITERS, flash_message, money, render, see_other

router = APIRouter(include_in_schema=False)


@router.get("/payments")
def payments_page(
    request: Request, page: Annotated[int, Query(ge=1, le=10_000)] = 1, user: User = ui_user(*FINANCE)
) -> Response:
    found = payment_queries.list_payments(context(request), limit=PAGE, offset=(page - 1) * PAGE)
    return render(request, "payments.html", user, page=found, page_no=page, can_apply=user.role in WRITERS)


@router.post("/payments")
async def apply_payment_page(request: Request, user: User = ui_user(*WRITERS)) -> Response:
    form = await request.form()
    number = str(form.get("invoice_number", "")).strip()
    try:
        amount = Decimal(str(form.get("amount", "")).strip())
        paid_on = date.fromisoformat(str(form.get("paid_on", "")).strip())
        if amount <= 0 or not number:
            raise ValueError
    except (InvalidOperation, ValueError):
        flash_message(request, "error", "Give an invoice number, a positive amount and a date (YYYY-MM-DD).")
        return see_other("/payments")
    try:
        report = apply_payment(
            context(request), number, amount, paid_on, str(form.get("reference", ""))[:200], user.actor
        )
    except IntakeError:
        flash_message(request, "error", f"{number} is not an issued invoice.")
        return see_other("/payments")
    state = report.states.get(number, "unchanged (already recorded)")
    flash_message(request, "ok", f"Payment of {money(amount)} applied to {number}: invoice now {state}.")
    return see_other("/payments")
