"""Read models of cash: payments as a filtered page. Reads only; nothing here commits."""

from __future__ import annotations

from sqlalchemy import select

from handoff.context import AppContext
from handoff.kernel.storage import schema
from handoff.kernel.storage.paging import Page, fetch_page


def list_payments(ctx: AppContext, *, invoice_number: str | None = None, limit: int = 50, offset: int = 0) -> Page:
    p, inv = schema.payments, schema.invoices
    q = (
        select(
            p.c.id,
            inv.c.number.label("invoice_number"),
            inv.c.customer_name,
            p.c.amount,
            inv.c.currency,
            p.c.paid_on,
            p.c.source,
            p.c.received_at,
        )
        .join(inv, inv.c.id == p.c.invoice_id)
        .order_by(p.c.paid_on.desc(), p.c.id.desc())
    )
    if invoice_number:
        q = q.where(inv.c.number == invoice_number)
    return fetch_page(ctx.engine, q, limit, offset)
