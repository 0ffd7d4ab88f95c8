"""API: customers' credit balances (credit notes' credit an invoice could not take), applying
credit to an open invoice and refunding it. Finance and admins act; auditors read.

Refusals answer 409 with a stable code: `not_open` (the invoice has nothing open, or is not an
issued invoice), `no_credit` (no credit, or not that much, in that selling entity and currency);
422 `invalid_request` for an amount or reference that cannot be used."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field

from handoff.invoicing.service import credits
from handoff.invoicing.service.credits import CreditError
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx, Filter
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import POSITIVE_AMOUNT, In, Out, ShortText, Text, plain

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["customer credit"])
READERS = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)
WRITERS = (Role.FINANCE, Role.ADMIN)
InvoiceNumber = Annotated[str, Path(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9._-]+$")]
AMOUNT = POSITIVE_AMOUNT


class CreditNoteCredit(Out):
    credit_note_id: int
    number: str
    issued_on: date | None
    remaining: str = Field(description="its credit not yet applied or refunded")


class Balance(Out):
    customer_id: str
    customer_name: str
    legal_entity: str
    currency: str
    amount: str = Field(description="the customer's credit in this selling entity and currency")
    credit_notes: list[CreditNoteCredit] = Field(description="where it comes from, oldest (used first) first")


class BalanceList(Out):
    items: list[Balance]


class Allocation(Out):
    id: int
    kind: str = Field(description="corrected (the invoice the credit note corrects), applied (another invoice), refund")
    credit_note: str
    invoice: str | None = Field(description="the invoice it settles (none for a refund)")
    customer_id: str
    legal_entity: str
    currency: str
    amount: str
    allocated_on: date
    reference: str = Field(description="a refund's bank reference")
    note: str
    created_by: str
    created_at: datetime


class AllocationList(Out):
    items: list[Allocation]


class ApplyIn(In):
    amount: str | None = Field(
        None, pattern=AMOUNT, description="how much to apply; omitted: as much as is open and available"
    )
    note: Text = ""


class RefundIn(In):
    customer_id: ShortText = Field(min_length=1)
    legal_entity: ShortText = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    amount: str = Field(pattern=AMOUNT, description="positive decimal, e.g. 6000.00")
    reference: ShortText = Field(min_length=1, description="the bank transfer's reference")
    paid_on: date | None = Field(None, description="when the money went out (default: today)")
    note: Text = ""


class Used(Out):
    credit_note: str
    amount: str


class CreditUse(Out):
    amount: str
    balance: str = Field(description="the customer's credit left in that entity and currency")
    customer_id: str
    legal_entity: str
    currency: str
    allocations: list[Used]
    invoice: str | None
    payment_state: str | None
    open_amount: str | None


STATUS = {"not_found": (404, "not_found"), "invalid": (422, "invalid_request")}


def _api_error(exc: CreditError) -> ApiError:
    status, code = STATUS.get(exc.code, (409, exc.code))
    return ApiError(status, code, str(exc), exc.field)


def _use(done: credits.CreditUse) -> dict[str, Any]:
    row = {k: getattr(done, k) for k in CreditUse.model_fields if k != "allocations"}
    out: dict[str, Any] = plain({**row, "allocations": [{"credit_note": n, "amount": a} for n, a in done.allocations]})
    return out


@router.get("/credits", response_model=BalanceList)
def list_balances(ctx: Ctx, customer: Filter = None, user: User = api_user(*READERS)) -> Any:
    """Customers' credit balances above zero (of one `customer` id), by selling entity and currency."""
    found = credits.balances(ctx, customer)
    return {"items": [plain({**b._asdict(), "credit_notes": [_source(c) for c in b.credit_notes]}) for b in found]}


def _source(c: Any) -> dict[str, Any]:
    return {"credit_note_id": c.credit_note_id, "number": c.number, "issued_on": c.issued_on, "remaining": c.remaining}


@router.get("/credits/allocations", response_model=AllocationList)
def list_allocations(
    ctx: Ctx,
    customer: Filter = None,
    kind: Annotated[str | None, Query(pattern="^(corrected|applied|refund)$")] = None,
    user: User = api_user(*READERS),
) -> Any:
    """Where credit went (of one `customer`'s credit notes; of one `kind`), oldest first."""
    found = credits.allocations(ctx, customer, [kind] if kind else None, limit=500)
    return {"items": [plain(a._asdict()) for a in found]}


@router.post("/invoices/{number}/apply-credit", response_model=CreditUse)
def apply_credit(ctx: Ctx, number: InvoiceNumber, body: ApplyIn | None = None, user: User = api_user(*WRITERS)) -> Any:
    """Apply the customer's credit (same selling entity and currency) to an open invoice: `amount`,
    or as much as is open and available. Audited; pushed to the accounting systems."""
    amount = Decimal(body.amount) if body and body.amount is not None else None
    try:
        done = credits.apply_credit(ctx, number, user.actor, amount, body.note if body else "")
    except CreditError as exc:
        raise _api_error(exc) from exc
    return _use(done)


@router.post("/credits/refunds", response_model=CreditUse, status_code=201)
def refund_credit(ctx: Ctx, body: RefundIn, user: User = api_user(*WRITERS)) -> Any:
    """Record credit paid back to a customer (with the bank transfer's reference). Audited; pushed
    to the accounting systems."""
    try:
        done = credits.refund_credit(
            ctx,
            body.customer_id,
            body.legal_entity,
            body.currency,
            Decimal(body.amount),
            user.actor,
            reference=body.reference,
            on=body.paid_on,
            note=body.note,
        )
    except CreditError as exc:
        raise _api_error(exc) from exc
    return _use(done)
