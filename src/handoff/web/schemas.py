"""API request and response models (pydantic v2). Amounts are exact decimal strings; requests
refuse unknown fields. Free-text inputs refuse control characters, which no field needs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from handoff.users.service import Role

LINE = r"^[^\x00-\x1f\x7f]*$"
Text = Annotated[str, StringConstraints(max_length=500, pattern=LINE)]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=LINE)]
OrderStateName = Literal["pipeline", "blocked", "ready", "drafted", "sent", "paid"]
DocumentFormat = Literal["ubl", "cii", "pdf", "facturx"]


class Out(BaseModel):
    """Response models. Amounts are exact decimal strings (see `plain`)."""


def plain(value: Any) -> Any:
    """Rows as the response models take them: Decimals as exact strings, recursively."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Order(Out):
    deal_id: str
    deal_name: str
    state: str
    owner_email: str
    customer_id: str
    customer_name: str
    legal_entity: str
    amount: str | None
    currency: str
    received_at: datetime
    ready_at: datetime | None
    invoiced_at: datetime | None
    updated_at: datetime


class Page(Out):
    total: int = Field(description="matching items, counted up to 10,000")
    total_capped: bool = Field(description="more than `total` items match")
    limit: int
    offset: int


class OrderPage(Page):
    items: list[Order]


class Problem(Out):
    code: str
    field: str
    message: str


class TaskRef(Out):
    id: int
    kind: str
    status: str
    assignee: str | None
    note: str
    created_at: datetime
    done_at: datetime | None


class InvoiceRef(Out):
    id: int
    number: str | None
    status: str
    payment_state: str
    gross_amount: str
    currency: str
    due_date: date | None


class OrderDetail(Order):
    fields: dict[str, str]
    problems: list[Problem]
    exception_opened_at: datetime | None
    tasks: list[TaskRef]
    invoices: list[InvoiceRef]


class BillingFix(In):
    """Billing fields a person may correct. Send only what changes; the deal is re-checked at once."""

    deal_name: Text | None = None
    customer_id: ShortText | None = None
    customer_legal_name: Text | None = None
    customer_type: ShortText | None = None
    country: ShortText | None = None
    vat_id: ShortText | None = None
    po_number: ShortText | None = None
    requires_po: ShortText | None = None
    billing_email: ShortText | None = None
    billing_contact_name: Text | None = None
    billing_street: Text | None = None
    billing_city: Text | None = None
    billing_postal_code: ShortText | None = None
    payment_terms: ShortText | None = None
    legal_entity: ShortText | None = None
    owner_email: ShortText | None = None


class ExceptionItem(Out):
    deal_id: str
    deal_name: str
    owner: str
    customer_name: str
    amount: str | None
    currency: str
    problems: list[Problem]
    opened_at: datetime
    age_days: int


class ExceptionPage(Page):
    items: list[ExceptionItem]


class Task(Out):
    id: int
    deal_id: str
    kind: str
    status: str
    assignee: str | None
    note: str
    created_at: datetime
    done_at: datetime | None
    customer_name: str
    owner_email: str
    amount: str | None
    currency: str
    state: str
    draft_invoice_id: int | None


class TaskPage(Page):
    items: list[Task]


class Invoice(Out):
    id: int
    number: str | None
    kind: str
    status: str
    payment_state: str
    overdue: bool
    legal_entity: str
    customer_id: str
    customer_name: str
    currency: str
    net_amount: str
    tax_amount: str
    gross_amount: str
    paid_amount: str
    issue_date: date | None
    due_date: date | None
    payment_reference: str | None


class InvoicePage(Page):
    items: list[Invoice]


class InvoiceLine(Out):
    line_no: int = Field(description="the line's number, by which credit notes name quantities")
    description: str
    quantity: str
    unit_price: str
    net_amount: str
    vat_rate: str
    vat_category: str


class PaymentRef(Out):
    id: int
    amount: str
    paid_on: date
    source: str
    received_at: datetime


class InvoiceDetail(Invoice):
    deal_ids: list[str]
    buyer_email: str
    lines: list[InvoiceLine]
    payments: list[PaymentRef]


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
    amount: str = Field(pattern=r"^[0-9]{1,12}(\.[0-9]{1,2})?$", description="positive decimal, e.g. 1190.00")
    paid_on: date
    reference: ShortText = ""


class PaymentResult(Out):
    applied: int
    duplicates: int
    invoice_number: str
    payment_state: str


class AuditEntry(Out):
    seq: int
    at: str
    actor: str
    action: str
    reason: str
    before: Any = None
    after: Any = None


class AuditVerification(Out):
    entries: int
    intact: bool
    broken_at: int | None
    reason: str | None


class Metrics(Out):
    deals_by_state: dict[str, int]
    won_deals: int
    deals_with_exceptions: int
    exception_rate: float
    open_exceptions: int
    exception_aging: dict[str, int]
    invoiced_deals: int
    cycle_time_days_median: float | None
    cycle_time_days_p90: float | None
    cycle_time_buckets: dict[str, int]
    overdue_by_currency: dict[str, str]
    overdue_invoices: int
    automation_rate: float
    window_days: int = Field(description="cycle time and automation rate cover deals invoiced in this many days")


class UserOut(Out):
    id: int
    email: str
    role: Role
    active: bool
    created_at: datetime | None = None


class UserIn(In):
    email: ShortText = Field(min_length=3)
    role: Role
    password: str = Field(min_length=8, max_length=200)


class UserPatch(In):
    active: bool


class TokenIn(In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=LINE)]


class TokenOut(Out):
    id: int
    name: str
    token: str = Field(description="shown only in this response; store it now")


def page_out(page: Any) -> dict[str, Any]:
    """A `Page` of a read model as the paged response models take it."""
    return {"items": plain(page.items), "total": page.total, "total_capped": page.total_capped,
            "limit": page.limit, "offset": page.offset}


LineNo = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,3}$")]
Quantity = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,9}(\.[0-9]{1,4})?$")]


class CreditNoteIn(In):
    reason: Text = Field(min_length=1, description="why the invoice is credited; printed on the credit note")
    quantities: dict[LineNo, Quantity] | None = Field(
        None, description="invoice line number -> quantity to credit; omitted: all that is left uncredited")


class DecisionIn(In):
    note: Text = ""


class RejectionIn(In):
    note: Text = Field(min_length=1, description="why: the requester is told")


class VoidIn(In):
    reason: Text = Field(min_length=1, description="why the draft must not be issued: the requester is told")


class ApprovalPayload(Out):
    reason: str
    quantities: dict[str, str]
    gross: str
    currency: str


class Approval(Out):
    id: int
    kind: Literal["credit_note"]
    subject: str = Field(description="the invoice number")
    invoice_id: int | None = Field(description="the id of the invoice credited")
    payload: ApprovalPayload
    status: Literal["pending", "approved", "rejected"]
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    result_invoice_id: int | None = Field(description="the credit-note draft made on approval")
    result_status: Literal["draft", "issued", "void"] | None = Field(description="that credit note's document status")


class ApprovalPage(Page):
    items: list[Approval]
