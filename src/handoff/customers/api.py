"""API: the customer master. List customers, read one (its record in force today or on `as_of`,
with every version) and replace its record from a day on (`PUT`: a new version, audited; the
earlier versions stay). Finance, auditors and admins read; finance and admins change."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema

from handoff.customers.domain import CustomerRecord, CustomerVersion
from handoff.customers.service import (
    CustomerError,
    CustomerView,
    get_customer,
    list_customers,
    open_balance,
    update_customer,
)
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx, Filter, Limit, Offset
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import LINE, In, Out, Page, ShortText, Text, page_out

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["customers"])
READERS = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)
WRITERS = (Role.FINANCE, Role.ADMIN)
CustomerId = Annotated[str, Path(max_length=200, pattern=LINE)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]


def _iso_day(value: Any) -> Any:
    """A day only as `YYYY-MM-DD` text, as documented (pydantic would also read a number as a Unix time)."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date as YYYY-MM-DD")
    if not isinstance(value, str | date):
        raise ValueError("a date as YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day), WithJsonSchema({"type": "string", "format": "date"})]


class CustomerSummary(Out):
    customer_id: str
    legal_name: str
    country: str
    billing_email: str
    version: int | None = Field(description="the latest version; null: as intake stored it, not versioned yet")


class CustomerPage(Page):
    items: list[CustomerSummary]


class Contact(In):
    name: Text = ""
    email: ShortText
    role: ShortText = "billing"


class BillingAddress(In):
    street: Text = ""
    city: ShortText = ""
    postal_code: ShortText = ""
    country: ShortText = Field(description="ISO 3166-1 alpha-2")
    region: ShortText = Field("", description="state or province (a US state's code)")


class Record(Out):
    legal_name: str
    vat_ids: dict[str, str] = Field(description="VAT id (BT-48) by ISO country code")
    us_tax_id: str
    is_business: bool
    billing_contacts: list[Contact]
    invoice_language: str = Field(description="ISO 639-1")
    delivery_channel: str = Field(description="email | peppol | post")
    peppol_id: str = Field(description='the Peppol endpoint (BT-49), "scheme:identifier"')
    consolidated_invoicing: bool
    billing_address: BillingAddress
    external_ids: dict[str, str] = Field(description="the customer's id by source system (hubspot, salesforce, ...)")


class Version(Out):
    version: int
    valid_from: date
    changed_by: str
    reason: str
    recorded_at: datetime
    record: Record


class CustomerDetail(Out):
    customer_id: str
    as_of: date
    version: int | None = Field(description="the version in force on `as_of`; null: not versioned yet")
    record: Record | None = Field(description="the record in force on `as_of`; null before the first version")
    versions: list[Version] = Field(description="every version, oldest first")
    open_balance: dict[str, str] = Field(
        description="what the customer owes by currency: the open amount (gross - paid - credited) of all its "
        "issued invoices, today; {} when nothing is open"
    )


class CustomerIn(In):
    """The whole record as it is to be from `valid_from` on (default today), and why."""

    legal_name: Text = Field(min_length=1)
    vat_ids: dict[Country, ShortText] = Field(default_factory=dict, max_length=30)
    us_tax_id: ShortText = ""
    is_business: bool = True
    billing_contacts: list[Contact] = Field(default_factory=list, max_length=20)
    invoice_language: ShortText = Field("en", description="ISO 639-1")
    delivery_channel: Literal["email", "peppol", "post"] = "email"
    peppol_id: ShortText = ""
    consolidated_invoicing: bool = False
    billing_address: BillingAddress
    valid_from: Day | None = Field(None, description="the day the change takes effect (default today)")
    reason: Text = Field(min_length=1, description="why the customer changes (audited)")


def _record(r: CustomerRecord) -> dict[str, Any]:
    a = r.billing_address
    return {
        "legal_name": r.legal_name,
        "vat_ids": dict(r.vat_ids),
        "us_tax_id": r.us_tax_id,
        "is_business": r.is_business,
        "billing_contacts": [{"name": c.name, "email": c.email, "role": c.role} for c in r.billing_contacts],
        "invoice_language": r.invoice_language,
        "delivery_channel": r.delivery_channel.value,
        "peppol_id": r.peppol_id,
        "consolidated_invoicing": r.consolidated_invoicing,
        "billing_address": {
            "street": a.street,
            "city": a.city,
            "postal_code": a.postal_code,
            "country": a.country,
            "region": a.region,
        },
        "external_ids": dict(r.external_ids),
    }


def _version(v: CustomerVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "valid_from": v.valid_from,
        "changed_by": v.changed_by,
        "reason": v.reason,
        "recorded_at": v.recorded_at,
        "record": _record(v.record),
    }


def detail(customer_id: str, view: CustomerView, on: date, balance: dict[str, Decimal]) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "as_of": on,
        "version": view.version.version if view.version else None,
        "record": _record(view.record) if view.record else None,
        "versions": [_version(v) for v in view.versions],
        "open_balance": {currency: str(amount) for currency, amount in balance.items()},
    }


def _refused(exc: CustomerError) -> ApiError:
    if exc.code == "not_found":
        return ApiError(404, "not_found", str(exc), "customer_id")
    if exc.code == "conflict":
        return ApiError(409, "conflict", str(exc), exc.field)
    return ApiError(422, "invalid_request", str(exc), exc.field)


@router.get("/customers", response_model=CustomerPage)
def customers(
    ctx: Ctx, limit: Limit = 50, offset: Offset = 0, text: Filter = None, user: User = api_user(*READERS)
) -> Any:
    """Customers by id; `text`: part of the id or legal name."""
    return page_out(list_customers(ctx, text=text, limit=limit, offset=offset))


@router.get("/customers/{customer_id}", response_model=CustomerDetail)
def customer(
    ctx: Ctx,
    customer_id: CustomerId,
    as_of: Annotated[Day | None, Query(description="the record in force on this day (default today)")] = None,
    user: User = api_user(*READERS),
) -> Any:
    """A customer's record in force on `as_of` (default today), every version, oldest first, and
    what it owes today by currency (`open_balance`)."""
    on = as_of or ctx.clock().date()
    view = get_customer(ctx, customer_id, on)
    if view is None:
        raise ApiError(404, "not_found", f"no customer {customer_id!r}", "customer_id")
    return detail(customer_id, view, on, open_balance(ctx, customer_id))


@router.put("/customers/{customer_id}", response_model=CustomerDetail)
def replace_customer(ctx: Ctx, customer_id: CustomerId, body: CustomerIn, user: User = api_user(*WRITERS)) -> Any:
    """Replace a customer's record from `valid_from` on (default today): a new version, audited
    with who and why; the earlier versions stay. The same record again changes nothing. 422 names
    the field that is wrong (VAT ids checked per country, the Peppol id, the language...)."""
    changes = body.model_dump(exclude={"valid_from", "reason"})
    try:
        update_customer(ctx, customer_id, changes, actor=user.actor, reason=body.reason, valid_from=body.valid_from)
    except CustomerError as exc:
        raise _refused(exc) from exc
    on = ctx.clock().date()
    view = get_customer(ctx, customer_id, on)
    assert view is not None
    return detail(customer_id, view, on, open_balance(ctx, customer_id))
