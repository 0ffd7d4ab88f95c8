"""API models of invoicing: finance tasks, invoices and an invoice's detail with its lines and the
payments applied to it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from handoff.web.schemas import Out, Page

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
