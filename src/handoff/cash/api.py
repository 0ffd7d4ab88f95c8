"""API: payments received against issued invoices: list them, and apply one by hand (the same
payment sent twice counts once)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from handoff.cash.service import queries as payment_queries
from handoff.cash.service.payments import apply_payment
from handoff.deals.formats import IntakeError
from handoff.invoicing.service import queries as invoice_queries
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx, Filter, Limit, Offset
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import POSITIVE_AMOUNT, In, Out, Page, ShortText, page_out

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["payments"])
READERS = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)
WRITERS = (Role.FINANCE, Role.ADMIN)


class Payment(Out):
    id: int
    invoice_number: str
    customer_name: str
    amount: str
    currency: str
    paid_on: date
    source: str
    received_at: datetime


class PaymentPage(Page):
    items: list[Payment]


class PaymentIn(In):
    invoice_number: ShortText = Field(min_length=1)
    amount: str = Field(pattern=POSITIVE_AMOUNT, description="positive decimal, e.g. 1190.00")
    paid_on: date
    reference: ShortText = ""


class PaymentResult(Out):
    applied: int
    duplicates: int
    invoice_number: str
    payment_state: str


@router.get("/payments", response_model=PaymentPage)
def list_payments(
    ctx: Ctx, limit: Limit = 50, offset: Offset = 0, invoice_number: Filter = None, user: User = api_user(*READERS)
) -> Any:
    return page_out(payment_queries.list_payments(ctx, invoice_number=invoice_number, limit=limit, offset=offset))


@router.post("/payments", response_model=PaymentResult, status_code=201)
def apply(ctx: Ctx, payment: PaymentIn, user: User = api_user(*WRITERS)) -> Any:
    """Apply one received payment to an issued invoice. The same payment sent twice counts once."""
    amount = Decimal(payment.amount)
    if amount <= 0:
        raise ApiError(422, "invalid_request", "amount must be positive", "amount")
    try:
        report = apply_payment(ctx, payment.invoice_number, amount, payment.paid_on, payment.reference, user.actor)
    except IntakeError as exc:
        raise ApiError(
            409, "conflict", f"invoice {payment.invoice_number!r} is not an issued invoice", "invoice_number"
        ) from exc
    number = payment.invoice_number
    state = report.states.get(number) or invoice_queries.invoice_payment_state(ctx, number)
    return {
        "applied": report.applied,
        "duplicates": report.duplicates,
        "invoice_number": payment.invoice_number,
        "payment_state": state or "unpaid",
    }
