"""Read models for the web app and API: orders, exceptions, tasks, invoices and payments as lists
with filters and paging, and one order or invoice in detail. Reads only; nothing here commits."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select

from handoff.context import AppContext
from handoff.invoicing.domain.invoices import Invoice
from handoff.kernel.storage import schema
from handoff.kernel.storage.codec import invoice_from_json

# Totals are counted up to here: an exact count of a million matching rows would cost more than
# the page itself, and "10,000+" tells a person as much.
COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    total: int  # at most COUNT_CAP
    limit: int
    offset: int
    total_capped: bool = False  # more than `total` match

    @property
    def total_label(self) -> str:
        return f"{self.total:,}+" if self.total_capped else f"{self.total:,}"


def _page(ctx: AppContext, q: Select[Any], limit: int, offset: int) -> Page:
    with ctx.engine.connect() as conn:
        counted = conn.execute(select(func.count()).select_from(
            q.order_by(None).limit(COUNT_CAP + 1).subquery())).scalar_one()  # fmt: skip
        rows = [dict(r._mapping) for r in conn.execute(q.limit(limit).offset(offset))]
    return Page(rows, min(counted, COUNT_CAP), limit, offset, counted > COUNT_CAP)


def paged(ctx: AppContext, q: Select[Any], limit: int, offset: int) -> Page:
    """A page of `q` with its total counted up to COUNT_CAP, for list use cases outside this module."""
    return _page(ctx, q, limit, offset)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _order_columns() -> list[Any]:
    o = schema.orders
    return [o.c.deal_id, o.c.state, o.c.owner_email, o.c.customer_id, o.c.customer_name, o.c.legal_entity,
            o.c.amount, o.c.currency, o.c.received_at, o.c.ready_at, o.c.invoiced_at, o.c.updated_at, o.c.data]


def _order_row(r: dict[str, Any]) -> dict[str, Any]:
    data = r.pop("data") or {}
    r["deal_name"] = data.get("deal_name", "")
    return r


def list_orders(ctx: AppContext, *, state: str | None = None, owner: str | None = None,
                customer: str | None = None, text: str | None = None, limit: int = 50, offset: int = 0) -> Page:
    """Orders, newest first. `customer` matches the customer id exactly or its name in part; `text`
    matches deal id, customer or owner in part (case-insensitive)."""
    o = schema.orders
    q = select(*_order_columns()).order_by(o.c.received_at.desc(), o.c.id.desc())
    if state:
        q = q.where(o.c.state == state)
    if owner:
        q = q.where(o.c.owner_email == owner.strip().lower())  # stored lower-case
    if customer:
        q = q.where(or_(o.c.customer_id == customer, o.c.customer_name.ilike(_like(customer), escape="\\")))
    if text:
        pattern = _like(text.strip())
        q = q.where(or_(*(c.ilike(pattern, escape="\\") for c in (o.c.deal_id, o.c.customer_name, o.c.owner_email))))
    page = _page(ctx, q, limit, offset)
    return replace(page, items=[_order_row(r) for r in page.items])


def order_owner(ctx: AppContext, deal_id: str) -> str | None:
    """The deal's sales owner ('' when it has none), or None when there is no such deal."""
    with ctx.engine.connect() as conn:
        owner: str | None = conn.execute(select(schema.orders.c.owner_email).where(
            schema.orders.c.deal_id == deal_id)).scalar_one_or_none()  # fmt: skip
    return owner


def order_detail(ctx: AppContext, deal_id: str) -> dict[str, Any] | None:
    """One order: its fields as received, open problems, finance tasks and invoices."""
    o, ex, t, inv, io = schema.orders, schema.exceptions, schema.tasks, schema.invoices, schema.invoice_orders
    with ctx.engine.connect() as conn:
        row = conn.execute(select(o.c.id, *_order_columns()).where(o.c.deal_id == deal_id)).one_or_none()
        if row is None:
            return None
        order = dict(row._mapping)
        oid = order.pop("id")
        exception = conn.execute(select(ex.c.problems, ex.c.opened_at).where(
            ex.c.order_id == oid, ex.c.status == "open")).one_or_none()  # fmt: skip
        tasks = [dict(r._mapping) for r in conn.execute(
            select(t.c.id, t.c.kind, t.c.status, t.c.assignee, t.c.note, t.c.created_at, t.c.done_at)
            .where(t.c.order_id == oid).order_by(t.c.id))]  # fmt: skip
        invoices = [dict(r._mapping) for r in conn.execute(
            select(inv.c.id, inv.c.number, inv.c.status, inv.c.payment_state, inv.c.gross_amount, inv.c.currency,
                   inv.c.due_date).join(io, io.c.invoice_id == inv.c.id).where(io.c.order_id == oid)
            .order_by(inv.c.id))]  # fmt: skip
    fields = {k: str(v) for k, v in (order["data"] or {}).items() if not isinstance(v, list | dict)}
    order = _order_row(order)
    order.update(fields=fields, problems=exception.problems if exception else [],
                 exception_opened_at=exception.opened_at if exception else None, tasks=tasks, invoices=invoices)
    return order


def list_exceptions(ctx: AppContext, *, owner: str | None = None, reason: str | None = None,
                    min_age_days: int | None = None, max_age_days: int | None = None,
                    limit: int = 50, offset: int = 0) -> Page:
    """Open exceptions, oldest first. `reason` is a problem's field (po_number) or code (missing)."""
    ex, o = schema.exceptions, schema.orders
    now = ctx.clock()
    q = (select(ex.c.deal_id, ex.c.owner, ex.c.problems, ex.c.opened_at, o.c.customer_name, o.c.amount,
                o.c.currency, o.c.data).join(o, o.c.id == ex.c.order_id).where(ex.c.status == "open")
         .order_by(ex.c.opened_at, ex.c.id))  # fmt: skip
    if owner:
        q = q.where(ex.c.owner == owner.strip().lower())  # stored lower-case
    if min_age_days is not None:
        q = q.where(ex.c.opened_at <= now - timedelta(days=min_age_days))
    if max_age_days is not None:
        q = q.where(ex.c.opened_at > now - timedelta(days=max_age_days + 1))
    if reason:
        q = q.where(ex.c.reasons.contains(f"|{reason.strip()}|", autoescape=True))
    page = _page(ctx, q, limit, offset)
    rows = page.items
    for r in rows:
        r["deal_name"] = (r.pop("data") or {}).get("deal_name", "")
        r["age_days"] = (now - r["opened_at"]).days
    return page


def list_tasks(ctx: AppContext, *, status: str | None = "open", kind: str | None = None,
               limit: int = 50, offset: int = 0) -> Page:
    """Finance tasks with their order and, while there is one, the invoice draft to review."""
    t, o, io, inv = schema.tasks, schema.orders, schema.invoice_orders, schema.invoices
    draft = (select(func.min(inv.c.id)).join(io, io.c.invoice_id == inv.c.id)
             .where(io.c.order_id == t.c.order_id, inv.c.status == "draft", inv.c.kind == "invoice")
             .scalar_subquery())  # fmt: skip
    q = (select(t.c.id, t.c.deal_id, t.c.kind, t.c.status, t.c.assignee, t.c.note, t.c.created_at, t.c.done_at,
                o.c.customer_name, o.c.owner_email, o.c.amount, o.c.currency, o.c.state,
                draft.label("draft_invoice_id")).join(o, o.c.id == t.c.order_id)
         .order_by(t.c.created_at.desc(), t.c.id.desc()))  # fmt: skip
    if status:
        q = q.where(t.c.status == status)
    if kind:
        q = q.where(t.c.kind == kind)
    return _page(ctx, q, limit, offset)


def _invoice_columns() -> list[Any]:
    inv = schema.invoices
    return [inv.c.id, inv.c.number, inv.c.kind, inv.c.status, inv.c.payment_state, inv.c.legal_entity,
            inv.c.customer_id, inv.c.customer_name, inv.c.currency, inv.c.net_amount, inv.c.tax_amount,
            inv.c.gross_amount, inv.c.paid_amount, inv.c.issue_date, inv.c.due_date, inv.c.payment_reference]


def _with_overdue(ctx: AppContext, r: dict[str, Any]) -> dict[str, Any]:
    r["overdue"] = bool(r["status"] == "issued" and r["payment_state"] != "paid" and r["due_date"]
                        and r["due_date"] < ctx.clock().date())
    return r


def list_invoices(ctx: AppContext, *, status: str | None = None, payment_state: str | None = None,
                  customer: str | None = None, overdue: bool | None = None,
                  limit: int = 50, offset: int = 0) -> Page:
    inv = schema.invoices
    q = select(*_invoice_columns()).order_by(inv.c.id.desc())
    if status:
        q = q.where(inv.c.status == status)
    if payment_state:
        q = q.where(inv.c.payment_state == payment_state)
    if customer:
        q = q.where(or_(inv.c.customer_id == customer, inv.c.customer_name.ilike(_like(customer), escape="\\")))
    if overdue is not None:
        late = (inv.c.status == "issued") & (inv.c.payment_state != "paid") & (inv.c.due_date < ctx.clock().date())
        q = q.where(late if overdue else ~late)
    page = _page(ctx, q, limit, offset)
    return replace(page, items=[_with_overdue(ctx, r) for r in page.items])


def invoice_detail(ctx: AppContext, invoice_id: int) -> dict[str, Any] | None:
    inv, io, o, p = schema.invoices, schema.invoice_orders, schema.orders, schema.payments
    with ctx.engine.connect() as conn:
        row = conn.execute(select(*_invoice_columns(), inv.c.document).where(inv.c.id == invoice_id)).one_or_none()
        if row is None:
            return None
        deals = list(conn.execute(select(o.c.deal_id).join(io, io.c.order_id == o.c.id)
                                  .where(io.c.invoice_id == invoice_id).order_by(o.c.deal_id)).scalars())  # fmt: skip
        payments = [dict(r._mapping) for r in conn.execute(
            select(p.c.id, p.c.amount, p.c.paid_on, p.c.source, p.c.received_at)
            .where(p.c.invoice_id == invoice_id).order_by(p.c.id))]  # fmt: skip
    detail = dict(row._mapping)
    doc = invoice_from_json(detail.pop("document"))
    detail.update(deal_ids=deals, payments=payments, buyer_email=doc.buyer.billing_email,
                  lines=[{"line_no": ln.line_no, "description": ln.description, "quantity": ln.quantity,
                          "unit_price": ln.unit_price, "net_amount": ln.net_amount, "vat_rate": ln.tax.rate,
                          "vat_category": ln.tax.category}
                         for ln in doc.lines])  # fmt: skip
    return _with_overdue(ctx, detail)


def invoice_document(ctx: AppContext, invoice_id: int) -> Invoice | None:
    with ctx.engine.connect() as conn:
        doc = conn.execute(select(schema.invoices.c.document).where(schema.invoices.c.id == invoice_id)).scalar()
    return invoice_from_json(doc) if doc is not None else None


def list_payments(ctx: AppContext, *, invoice_number: str | None = None, limit: int = 50, offset: int = 0) -> Page:
    p, inv = schema.payments, schema.invoices
    q = (select(p.c.id, inv.c.number.label("invoice_number"), inv.c.customer_name, p.c.amount, inv.c.currency,
                p.c.paid_on, p.c.source, p.c.received_at).join(inv, inv.c.id == p.c.invoice_id)
         .order_by(p.c.paid_on.desc(), p.c.id.desc()))  # fmt: skip
    if invoice_number:
        q = q.where(inv.c.number == invoice_number)
    return _page(ctx, q, limit, offset)


def invoice_payment_state(ctx: AppContext, number: str) -> str | None:
    with ctx.engine.connect() as conn:
        state: str | None = conn.execute(select(schema.invoices.c.payment_state).where(
            schema.invoices.c.number == number)).scalar_one_or_none()  # fmt: skip
    return state
