"""Read models of deals: orders and the exception queue as filtered pages (the queue also whole),
one order in detail. Reads only; nothing here commits."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select

from handoff.context import AppContext
from handoff.deals.domain.orders import DEAL_FIELDS
from handoff.kernel.storage import schema
from handoff.kernel.storage.paging import Page, fetch_page, like


def _order_columns() -> list[Any]:
    o = schema.orders
    return [
        o.c.deal_id,
        o.c.state,
        o.c.owner_email,
        o.c.customer_id,
        o.c.customer_name,
        o.c.legal_entity,
        o.c.amount,
        o.c.currency,
        o.c.received_at,
        o.c.ready_at,
        o.c.invoiced_at,
        o.c.updated_at,
        o.c.data,
    ]


def _order_row(r: dict[str, Any]) -> dict[str, Any]:
    data = r.pop("data") or {}
    r["deal_name"] = data.get("deal_name", "")
    return r


def list_orders(
    ctx: AppContext,
    *,
    state: str | None = None,
    owner: str | None = None,
    customer: str | None = None,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Orders, newest first. `customer` matches the customer id exactly or its name in part; `text`
    matches deal id, customer or owner in part (case-insensitive)."""
    o = schema.orders
    q = select(*_order_columns()).order_by(o.c.received_at.desc(), o.c.id.desc())
    if state:
        q = q.where(o.c.state == state)
    if owner:
        q = q.where(o.c.owner_email == owner.strip().lower())  # stored lower-case
    if customer:
        q = q.where(or_(o.c.customer_id == customer, o.c.customer_name.ilike(like(customer), escape="\\")))
    if text:
        pattern = like(text.strip())
        q = q.where(or_(*(c.ilike(pattern, escape="\\") for c in (o.c.deal_id, o.c.customer_name, o.c.owner_email))))
    page = fetch_page(ctx.engine, q, limit, offset)
    return replace(page, items=[_order_row(r) for r in page.items])


def order_owner(ctx: AppContext, deal_id: str) -> str | None:
    """The deal's sales owner ('' when it has none), or None when there is no such deal."""
    with ctx.engine.connect() as conn:
        owner: str | None = conn.execute(
            select(schema.orders.c.owner_email).where(schema.orders.c.deal_id == deal_id)
        ).scalar_one_or_none()
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
        exception = conn.execute(
            select(ex.c.problems, ex.c.opened_at).where(ex.c.order_id == oid, ex.c.status == "open")
        ).one_or_none()
        tasks = [
            dict(r._mapping)
            for r in conn.execute(
                select(t.c.id, t.c.kind, t.c.status, t.c.assignee, t.c.note, t.c.created_at, t.c.done_at)
                .where(t.c.order_id == oid)
                .order_by(t.c.id)
            )
        ]
        invoices = [
            dict(r._mapping)
            for r in conn.execute(
                select(
                    inv.c.id,
                    inv.c.number,
                    inv.c.status,
                    inv.c.payment_state,
                    inv.c.gross_amount,
                    inv.c.currency,
                    inv.c.due_date,
                )
                .join(io, io.c.invoice_id == inv.c.id)
                .where(io.c.order_id == oid)
                .order_by(inv.c.id)
            )
        ]
    # every generic field, given or not (an order stores only the values given), then the custom ones
    fields = dict.fromkeys(DEAL_FIELDS, "") | {
        k: str(v) for k, v in (order["data"] or {}).items() if not isinstance(v, list | dict)
    }
    order = _order_row(order)
    order.update(
        fields=fields,
        problems=exception.problems if exception else [],
        exception_opened_at=exception.opened_at if exception else None,
        tasks=tasks,
        invoices=invoices,
    )
    return order


def list_exceptions(
    ctx: AppContext,
    *,
    owner: str | None = None,
    reason: str | None = None,
    min_age_days: int | None = None,
    max_age_days: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Open exceptions, oldest first. `reason` is a problem's field (po_number) or code (missing)."""
    ex, o = schema.exceptions, schema.orders
    now = ctx.clock()
    q = (
        select(
            ex.c.deal_id,
            ex.c.owner,
            ex.c.problems,
            ex.c.opened_at,
            o.c.customer_name,
            o.c.amount,
            o.c.currency,
            o.c.data,
        )
        .join(o, o.c.id == ex.c.order_id)
        .where(ex.c.status == "open")
        .order_by(ex.c.opened_at, ex.c.id)
    )
    if owner:
        q = q.where(ex.c.owner == owner.strip().lower())  # stored lower-case
    if min_age_days is not None:
        q = q.where(ex.c.opened_at <= now - timedelta(days=min_age_days))
    if max_age_days is not None:
        q = q.where(ex.c.opened_at > now - timedelta(days=max_age_days + 1))
    if reason:
        q = q.where(ex.c.reasons.contains(f"|{reason.strip()}|", autoescape=True))
    page = fetch_page(ctx.engine, q, limit, offset)
    rows = page.items
    for r in rows:
        r["deal_name"] = (r.pop("data") or {}).get("deal_name", "")
        r["age_days"] = (now - r["opened_at"]).days
    return page


def exception_queue(ctx: AppContext, owner: str | None = None) -> list[dict[str, Any]]:
    """Every open exception with its order's customer and amount, oldest first; `owner` exactly."""
    ex, o = schema.exceptions, schema.orders
    q = (
        select(ex.c.deal_id, ex.c.owner, ex.c.problems, ex.c.opened_at, o.c.customer_name, o.c.amount, o.c.currency)
        .join(o, o.c.id == ex.c.order_id)
        .where(ex.c.status == "open")
        .order_by(ex.c.opened_at, ex.c.id)
    )
    if owner:
        q = q.where(ex.c.owner == owner)
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def orders_by_state(ctx: AppContext) -> dict[str, int]:
    """How many orders are in each state (states without orders left out)."""
    o = schema.orders
    with ctx.engine.connect() as conn:
        return {state: n for state, n in conn.execute(select(o.c.state, func.count()).group_by(o.c.state))}
