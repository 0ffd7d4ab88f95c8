"""API models of invoicing: finance tasks, invoices and an invoice's detail with its lines and the
payments applied to it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StringConstraints

from handoff.web.schemas import LINE, Email, In, Out, Page, Text

DocumentFormat = Literal["ubl", "cii", "pdf", "facturx"]


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
    credited_amount: str = Field(description="credit notes' credit applied to it")
    open_amount: str | None = Field(
        description="gross - paid - credited: what is still owed (none for drafts and credit notes)"
    )
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
    net_amount: str = Field(description="BT-131: quantity x unit price less the line's discount")
    vat_rate: str
    vat_category: str
    discount_amount: str = Field("0", description="the line's discount (BG-27), already off net_amount")


class DocumentDiscount(Out):
    """A discount on the whole document (BG-20), in one VAT category: a deal's discount."""

    reason: str
    vat_category: str
    vat_rate: str
    amount: str


class PaymentRef(Out):
    id: int
    amount: str
    paid_on: date
    source: str
    received_at: datetime


class BillingContact(Out):
    email: str = Field(description="whom the invoice's e-mails and reminders go to now")
    name: str
    changed_by: str | None = Field(description="who changed it after issue (null: as issued)")
    changed_at: datetime | None
    reason: str | None


class BillingContactIn(In):
    billing_email: Email = Field(description="the new billing contact's e-mail address")
    billing_contact_name: Annotated[str, StringConstraints(max_length=300, pattern=LINE)] | None = Field(
        None, description="the contact's name; omitted: the name stays"
    )
    reason: Text = Field(min_length=1, description="why the contact changes (audited)")
    resend: StrictBool = Field(False, description="send the invoice to the new contact now")


class CreditRef(Out):
    kind: str = Field(description="corrected (by the credit note that corrects it), applied (from the balance), refund")
    credit_note: str
    invoice: str | None
    amount: str
    allocated_on: date
    reference: str
    created_by: str


class InvoiceDetail(Invoice):
    deal_ids: list[str]
    buyer_email: str = Field(description="the billing e-mail the invoice was issued to (its document's buyer)")
    billing_contact: BillingContact
    lines: list[InvoiceLine]
    line_total: str = Field("0", description="BT-106: the sum of the lines' net amounts")
    discounts: list[DocumentDiscount] = Field(
        default_factory=list, description="document-level discounts (BG-20): net_amount is the line total less these"
    )
    payments: list[PaymentRef]
    credits: list[CreditRef] = Field(
        default_factory=list, description="credit applied to this invoice; for a credit note, where its credit went"
    )
    credit_available: str | None = Field(
        None,
        description="the customer's credit (same entity and currency) that could still be applied; for a "
        "credit note, its credit not yet used",
    )
