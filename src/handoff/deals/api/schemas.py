"""API models of deals: orders (a deal and where it stands), their detail with problems, tasks
and invoices, and the exception queue. The fix request (`BillingFix`) is in `web.schemas`,
shared with the deals pages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from handoff.web.schemas import Out, Page

OrderStateName = Literal["pipeline", "blocked", "ready", "drafted", "sent", "paid"]


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
