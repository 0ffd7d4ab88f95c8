"""Read models of invoicing: finance tasks and invoices as filtered pages, one invoice in detail
and as its document. Reads only; nothing here commits."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import func, or_, select

from handoff.context import AppContext
from handoff.invoicing.domain.invoices import OPEN_STATES, Invoice, invoice_from_json
from handoff.invoicing.repository.credits import CreditRepository
from handoff.kernel.money import ZERO
from handoff.kernel.storage import schema
from handoff.kernel.storage.paging import Page, fetch_page, like


def list_tasks(
    ctx: AppContext, *, status: str | None = "open", kind: str | None = None, limit: int = 50, offset: int = 0
) -> Page:
    """Finance tasks with their order and, while there is one, the invoice draft to review."""
    t, o, io, inv = schema.tasks, schema.orders, schema.invoice_orders, schema.invoices
    draft = (
        select(func.min(inv.c.id))
        .join(io, io.c.invoice_id == inv.c.id)
        .where(io.c.order_id == t.c.order_id, inv.c.status == "draft", inv.c.kind == "invoice")
        .scalar_subquery()
    )
    q = (
        select(
            t.c.id,
            t.c.deal_id,
            t.c.kind,
            t.c.status,
            t.c.assignee,
            t.c.note,
            t.c.created_at,
            t.c.done_at,
            o.c.customer_name,
            o.c.owner_email,
            o.c.amount,
            o.c.currency,
            o.c.state,
            draft.label("draft_invoice_id"),
        )
        .join(o, o.c.id == t.c.order_id)
        .order_by(t.c.created_at.desc(), t.c.id.desc())
    )
    if status:
        q = q.where(t.c.status == status)
    if kind:
        q = q.where(t.c.kind == kind)
    return fetch_page(ctx.engine, q, limit, offset)


def _invoice_columns() -> list[Any]:
    inv = schema.invoices
    return [
        inv.c.id,
        inv.c.number,
        inv.c.kind,
        inv.c.status,
        inv.c.payment_state,
        inv.c.legal_entity,
        inv.c.customer_id,
        inv.c.customer_name,
        inv.c.currency,
        inv.c.net_amount,
        inv.c.tax_amount,
        inv.c.gross_amount,
        inv.c.paid_amount,
        inv.c.credited_amount,
        inv.c.issue_date,
        inv.c.due_date,
        inv.c.payment_reference,
    ]


_OPEN = [s.value for s in OPEN_STATES]


def _with_overdue(ctx: AppContext, r: dict[str, Any]) -> dict[str, Any]:
    """The row with its open amount (gross - paid - credited; none for a credit note or draft) and
    whether it is overdue (issued, something open, past its due date)."""
    is_invoice = r["status"] == "issued" and r["kind"] == "invoice"
    r["open_amount"] = r["gross_amount"] - r["paid_amount"] - r["credited_amount"] if is_invoice else None
    r["overdue"] = bool(
        is_invoice and r["payment_state"] in _OPEN and r["due_date"] and r["due_date"] < ctx.clock().date()
    )
    return r


def list_invoices(
    ctx: AppContext,
    *,
    status: str | None = None,
    payment_state: str | None = None,
    customer: str | None = None,
    overdue: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    inv = schema.invoices
    q = select(*_invoice_columns()).order_by(inv.c.id.desc())
    if status:
        q = q.where(inv.c.status == status)
    if payment_state:
        q = q.where(inv.c.payment_state == payment_state)
    if customer:
        q = q.where(or_(inv.c.customer_id == customer, inv.c.customer_name.ilike(like(customer), escape="\\")))
    if overdue is not None:
        late = (
            (inv.c.status == "issued")
            & (inv.c.kind == "invoice")
            & inv.c.payment_state.in_(_OPEN)
            & (inv.c.due_date < ctx.clock().date())
        )
        q = q.where(late if overdue else ~late)
    page = fetch_page(ctx.engine, q, limit, offset)
    return replace(page, items=[_with_overdue(ctx, r) for r in page.items])


def invoice_detail(ctx: AppContext, invoice_id: int) -> dict[str, Any] | None:
    inv, io, o, p = schema.invoices, schema.invoice_orders, schema.orders, schema.payments
    with ctx.engine.connect() as conn:
        row = conn.execute(select(*_invoice_columns(), inv.c.document).where(inv.c.id == invoice_id)).one_or_none()
        if row is None:
            return None
        deals = list(
            conn.execute(
                select(o.c.deal_id)
                .join(io, io.c.order_id == o.c.id)
                .where(io.c.invoice_id == invoice_id)
                .order_by(o.c.deal_id)
            ).scalars()
        )
        payments = [
            dict(r._mapping)
            for r in conn.execute(
                select(p.c.id, p.c.amount, p.c.paid_on, p.c.source, p.c.received_at)
                .where(p.c.invoice_id == invoice_id)
                .order_by(p.c.id)
            )
        ]
        ic = schema.invoice_contacts
        changed = conn.execute(
            select(ic.c.billing_email, ic.c.billing_contact_name, ic.c.reason, ic.c.changed_by, ic.c.changed_at).where(
                ic.c.invoice_id == invoice_id
            )
        ).one_or_none()
    detail = dict(row._mapping)
    doc = invoice_from_json(detail.pop("document"))
    detail.update(
        deal_ids=deals,
        payments=payments,
        buyer_email=doc.buyer.billing_email,  # as issued (the document's buyer)
        # whom its e-mails and reminders go to now: as finance changed it since issue, else as issued
        billing_contact={
            "email": changed.billing_email if changed else doc.buyer.billing_email,
            "name": changed.billing_contact_name if changed else doc.buyer.billing_contact_name,
            "changed_by": changed.changed_by if changed else None,
            "changed_at": changed.changed_at if changed else None,
            "reason": changed.reason if changed else None,
        },
        lines=[
            {
                "line_no": ln.line_no,
                "description": ln.description,
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "net_amount": ln.net_amount,
                "vat_rate": ln.tax.rate,
                "vat_category": ln.tax.category,
                "discount_amount": ln.allowance_total,  # already off net_amount
            }
            for ln in doc.lines
        ],
        line_total=doc.totals.line_net,
        discounts=[
            {"reason": a.reason, "vat_category": a.category, "vat_rate": a.rate, "amount": a.amount}
            for a in doc.allowances
        ],
    )
    detail.update(_credit_facts(ctx, detail))
    return _with_overdue(ctx, detail)


def _credit_facts(ctx: AppContext, detail: dict[str, Any]) -> dict[str, Any]:
    """The credit allocated to an issued invoice (or, for a credit note, where its credit went),
    and the customer's balance in the invoice's entity and currency that could still go to it."""
    if detail["status"] != "issued":
        return {"credits": [], "credit_available": None}
    with ctx.engine.connect() as conn:
        repo = CreditRepository(conn)
        if detail["kind"] == "credit_note":
            used = repo.allocations(credit_note_id=detail["id"])
            left = detail["gross_amount"] - sum((a.amount for a in used), ZERO)
            return {"credits": [a._asdict() for a in used], "credit_available": left}
        sources = repo.credit_sources(detail["customer_id"], detail["legal_entity"], detail["currency"])
        return {
            "credits": [a._asdict() for a in repo.allocations(invoice_id=detail["id"])],
            "credit_available": sum((c.remaining for c in sources), ZERO),
        }


def invoice_document(ctx: AppContext, invoice_id: int) -> Invoice | None:
    with ctx.engine.connect() as conn:
        doc = conn.execute(select(schema.invoices.c.document).where(schema.invoices.c.id == invoice_id)).scalar()
    return invoice_from_json(doc) if doc is not None else None


def invoice_payment_state(ctx: AppContext, number: str) -> str | None:
    with ctx.engine.connect() as conn:
        state: str | None = conn.execute(
            select(schema.invoices.c.payment_state).where(schema.invoices.c.number == number)
        ).scalar_one_or_none()
    return state
