"""The customer pages for finance: customers by id, and one customer's master record (in force
today or on a chosen day), its versions, its latest invoices and what it owes (the open amount of
all its invoices, from invoicing's ledger)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from handoff.customers.service import get_customer, list_customers, open_balance
from handoff.invoicing.service import queries as invoice_queries
from handoff.users.service import User
from handoff.web.auth import context, ui_user
from handoff.web.pages import FINANCE, PAGE, error_page, render
from handoff.web.schemas import LINE

router = APIRouter(include_in_schema=False)
INVOICES_SHOWN = 200


@router.get("/customers")
def customers_page(
    request: Request,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    text: Annotated[str | None, Query(max_length=200, pattern=LINE)] = None,
    user: User = ui_user(*FINANCE),
) -> Response:
    found = list_customers(context(request), text=text, limit=PAGE, offset=(page - 1) * PAGE)
    return render(request, "customers.html", user, page=found, page_no=page, text=text or "")


@router.get("/customers/{customer_id}")
def customer_page(
    request: Request,
    customer_id: Annotated[str, Path(max_length=200, pattern=LINE)],
    as_of: Annotated[date | None, Query()] = None,
    user: User = ui_user(*FINANCE),
) -> Response:
    ctx = context(request)
    on = as_of or ctx.clock().date()
    view = get_customer(ctx, customer_id, on)
    if view is None:
        return error_page(request, 404, f"There is no customer {customer_id}.")
    # the customer's invoices as invoicing shows them (its filter also matches names: kept to this id)
    listed = invoice_queries.list_invoices(ctx, customer=customer_id, limit=INVOICES_SHOWN)
    invoices = [i for i in listed.items if i["customer_id"] == customer_id]
    complete = not listed.total_capped and listed.total <= INVOICES_SHOWN
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "view": view,
        "on": on,
        "invoices": invoices,
        "open_by_currency": sorted(open_balance(ctx, customer_id).items()),
        "complete": complete,
    }
    return render(request, "customer.html", user, **values)
