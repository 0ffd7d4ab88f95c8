"""The customer pages for finance: customers by id, and one customer's master record (in force
today or on a chosen day), its versions, its latest invoices and what it owes (the open amount of
all its invoices, from invoicing's ledger), and the form that changes the record (finance and
admins): the same use case as the API and the CLI, a new version from the day given."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from handoff.customers.domain import CustomerError, CustomerRecord, DeliveryChannel, vat_country
from handoff.customers.service import get_customer, list_customers, open_balance, update_customer
from handoff.invoicing.service import queries as invoice_queries
from handoff.users.service import User
from handoff.web.auth import context, ui_user
from handoff.web.pages import FINANCE, PAGE, WRITERS, error_page, flash_message, render, see_other
from handoff.web.schemas import LINE

router = APIRouter(include_in_schema=False)
INVOICES_SHOWN = 200
REASON_LENGTH = 500
FIELD_LENGTH = 300


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
        "can_edit": user.role in WRITERS,
        "today": ctx.clock().date(),
        "channels": [c.value for c in DeliveryChannel],
    }
    return render(request, "customer.html", user, **values)


def _changes(record: CustomerRecord, form: Any) -> dict[str, Any]:
    """The form's fields as `update_customer` changes: the first billing contact replaced (the
    others kept), the VAT id set for its country (the others kept; emptied: the one shown removed)."""

    def text(name: str) -> str:
        return str(form.get(name, "")).strip()[:FIELD_LENGTH]

    contacts = [{"name": c.name, "email": c.email, "role": c.role} for c in record.billing_contacts]
    first = {"name": text("contact_name"), "email": text("billing_email"), "role": "billing"}
    if contacts:
        first["role"] = contacts[0]["role"]
    contacts = [first, *contacts[1:]] if first["email"] or first["name"] else contacts[1:]
    vat_ids = dict(record.vat_ids)
    shown = record.vat_id
    vat_ids = {c: v for c, v in vat_ids.items() if v != shown}
    if text("vat_id"):
        vat_ids[vat_country(text("vat_id"), "")] = text("vat_id")
    return {
        "legal_name": text("legal_name"),
        "billing_contacts": contacts,
        "invoice_language": text("invoice_language"),
        "delivery_channel": text("delivery_channel"),
        "peppol_id": text("peppol_id"),
        "consolidated_invoicing": form.get("consolidated_invoicing") is not None,
        "vat_ids": vat_ids,
    }


@router.post("/customers/{customer_id}")
async def update_customer_page(
    request: Request,
    customer_id: Annotated[str, Path(max_length=200, pattern=LINE)],
    user: User = ui_user(*WRITERS),
) -> Response:
    """Finance changes the customer's record from a day on (default today) as a new version,
    audited with the user and the reason; a refused change names its field, nothing written."""
    form = await request.form()
    ctx = context(request)
    back = "/customers/" + quote(customer_id, safe="")
    reason = str(form.get("reason", "")).strip()[:REASON_LENGTH]
    raw_day = str(form.get("valid_from", "")).strip()
    try:
        day = date.fromisoformat(raw_day) if raw_day else None
    except ValueError:
        flash_message(request, "error", "Customer not changed: valid from must be a date (YYYY-MM-DD).")
        return see_other(back)
    if not reason:
        flash_message(request, "error", "Customer not changed: say why (reason).")
        return see_other(back)
    view = get_customer(ctx, customer_id, day or ctx.clock().date())
    if view is None:
        return error_page(request, 404, f"There is no customer {customer_id}.")
    if view.record is None:
        flash_message(request, "error", "Customer not changed: no version is in force on that day.")
        return see_other(back)
    changes = _changes(view.record, form)
    try:
        done = update_customer(ctx, customer_id, changes, actor=user.actor, reason=reason, valid_from=day)
    except CustomerError as exc:
        if exc.code == "not_found":
            return error_page(request, 404, f"There is no customer {customer_id}.")
        flash_message(request, "error", f"Customer not changed: {exc}")
        return see_other(back)
    flash_message(request, "ok", f"Customer {customer_id}: version {done.version}, valid from {done.valid_from}.")
    return see_other(back)
