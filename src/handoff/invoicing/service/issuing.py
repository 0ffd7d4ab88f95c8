"""Invoicing use cases: issue a draft (number it, date it, send it), list and load invoices.

Numbers are gapless per selling entity, series and year: the counter row is incremented in the
same transaction that issues the invoice (row-locked on PostgreSQL; SQLite serialises writers),
so a number is used exactly when an invoice is issued and never skipped or reused.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update

from handoff.accounting import service as accounting
from handoff.context import AppContext
from handoff.deals.domain.orders import OrderState
from handoff.invoicing.domain.invoices import Invoice, InvoiceKind, invoice_from_json, invoice_number, issue
from handoff.kernel.encoding import to_jsonable
from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import Notice, UnitOfWork


class InvoicingError(Exception):
    """A request that the invoice's state does not allow (logical, not transient)."""


def next_number(uow: UnitOfWork, entity: str, series: str, year: int) -> int:
    s = schema.invoice_sequences
    q = select(s.c.last_number).where(s.c.legal_entity == entity, s.c.series == series, s.c.year == year)
    if uow.is_postgres:
        q = q.with_for_update()
    last: int | None = uow.conn.execute(q).scalar_one_or_none()
    if last is None:
        uow.conn.execute(s.insert().values(legal_entity=entity, series=series, year=year, last_number=1))
        return 1
    uow.conn.execute(update(s).where(s.c.legal_entity == entity, s.c.series == series, s.c.year == year)
                     .values(last_number=last + 1))  # fmt: skip
    return last + 1


def issue_draft(ctx: AppContext, invoice_id: int, actor: str, on: date | None = None) -> Invoice:
    """Issue one draft: number, dates, payment reference; the finance task is done; the invoice
    goes to the customer's billing contact through the outbox."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        issued = _issue(uow, ctx, invoice_id, actor, on or now.date(), now)
        uow.commit()
    return issued


def issue_all_drafts(ctx: AppContext, actor: str, on: date | None = None, batch: int = 200,
                     failures: list[tuple[int, str]] | None = None) -> list[Invoice]:  # fmt: skip
    """Issue every draft. Several workers may do this at once: each claims drafts with
    `FOR UPDATE SKIP LOCKED` on PostgreSQL, so no draft is issued twice and none waits. A draft
    that cannot be issued (say, a missing exchange rate) stays a draft and is reported in
    `failures`; the others are issued."""
    now = ctx.clock()
    inv = schema.invoices
    issued: list[Invoice] = []
    after = 0
    while True:
        with ctx.unit_of_work() as uow:
            q = select(inv.c.id).where(inv.c.status == "draft", inv.c.id > after).order_by(inv.c.id).limit(batch)
            if uow.is_postgres:
                q = q.with_for_update(skip_locked=True)
            ids = list(uow.conn.execute(q).scalars())
            if not ids:
                return issued
            for invoice_id in ids:
                savepoint = uow.conn.begin_nested()
                mark = uow.mark()
                try:
                    issued.append(_issue(uow, ctx, invoice_id, actor, on or now.date(), now))
                    savepoint.commit()
                except InvoicingError as exc:
                    savepoint.rollback()
                    uow.rollback_to(mark)
                    if failures is not None:
                        failures.append((invoice_id, str(exc)))
            after = ids[-1]
            uow.commit()


def _issue(uow: UnitOfWork, ctx: AppContext, invoice_id: int, actor: str, on: date, now: datetime) -> Invoice:
    inv = schema.invoices
    q = select(inv).where(inv.c.id == invoice_id)
    if uow.is_postgres:
        q = q.with_for_update()
    row = uow.conn.execute(q).one_or_none()
    if row is None:
        raise InvoicingError(f"invoice id {invoice_id} does not exist")
    if row.status != "draft":
        raise InvoicingError(f"invoice {row.number or invoice_id} is {row.status}; only a draft can be issued")
    draft = invoice_from_json(row.document)
    series = "INV" if draft.kind.value == "invoice" else "CRN"
    number = invoice_number(draft.seller, series, on.year, next_number(uow, row.legal_entity, series, on.year))
    rate = ctx.config.exchange_rate(draft.tax_currency, draft.currency) if draft.tax_currency else None
    if draft.tax_currency and rate is None:
        raise InvoicingError(f"invoice {invoice_id} is in {draft.currency} from a {draft.tax_currency} seller: "
                             f"configure exchange_rates.{draft.tax_currency}.{draft.currency}")  # fmt: skip
    issued = issue(draft, number, on, rate)
    uow.conn.execute(update(inv).where(inv.c.id == invoice_id).values(
        number=number, status="issued", issue_date=issued.issue_date, due_date=issued.due_date,
        payment_reference=issued.payment_reference, document=to_jsonable(issued), issued_at=now))  # fmt: skip
    o, t, io = schema.orders, schema.tasks, schema.invoice_orders
    orders = uow.conn.execute(select(o.c.id, o.c.received_at).join(io, io.c.order_id == o.c.id)
                              .where(io.c.invoice_id == invoice_id)).all()  # fmt: skip
    order_ids = [r.id for r in orders]
    if issued.kind is InvoiceKind.CREDIT_NOTE:
        _credit_note_issued(uow, issued, now, actor)
        # pushed to accounting, but not written back onto the deals: their invoice is still the one it corrects
        accounting.issued(uow, ctx, issued, [], now)
        return issued
    for r in orders:  # the cycle time is kept as a number so the dashboard aggregates it from an index
        uow.conn.execute(update(o).where(o.c.id == r.id).values(
            state=OrderState.SENT.value, invoiced_at=now, updated_at=now,
            cycle_seconds=max(0, int((now - r.received_at).total_seconds()))))  # fmt: skip
    uow.conn.execute(update(t).where(t.c.order_id.in_(order_ids), t.c.kind == "issue_invoice", t.c.status == "open")
                     .values(status="done", done_at=now, assignee=actor))  # fmt: skip
    for deal_id in issued.order_refs:
        uow.audit(at=now, actor=actor, action="invoice.issued", entity_type="order", entity_id=deal_id,
                  reason="finance reviewed and sent the invoice", before={"state": "drafted", "invoice": None},
                  after={"state": "sent", "invoice": number, "gross": issued.totals.tax_inclusive})  # fmt: skip
    _email_buyer(uow, issued, "invoice", f"due on {issued.due_date}. Please pay to IBAN "
                 f"{issued.seller.iban or '-'} quoting {issued.payment_reference}.", now)  # fmt: skip
    accounting.issued(uow, ctx, issued, order_ids, now)  # one push per configured accounting system
    return issued


def _credit_note_issued(uow: UnitOfWork, issued: Invoice, now: datetime, actor: str) -> None:
    """A credit note leaves its orders' states and tasks alone: they belong to the invoice it corrects."""
    number = issued.number or ""
    uow.audit(at=now, actor=actor, action="credit_note.issued", entity_type="invoice", entity_id=issued.corrects or "",
              reason="approved credit note issued",
              after={"credit_note": number, "gross": issued.totals.tax_inclusive})  # fmt: skip
    _email_buyer(uow, issued, "credit_note", f"correcting invoice {issued.corrects}.", now)


def _email_buyer(uow: UnitOfWork, issued: Invoice, kind: str, detail: str, now: datetime) -> None:
    """The issued document to the buyer's billing contact; `detail` ends the sentence on its amount."""
    number, buyer, title = issued.number or "", issued.buyer, kind.replace("_", " ")
    uow.notify(Notice(f"email:{kind}:{number}", "email", "invoice", {
        "to": [buyer.billing_email],
        "subject": f"{title.capitalize()} {number} from {issued.seller.name}",
        "text": (f"Dear {buyer.billing_contact_name or buyer.legal_name},\n\nplease find {title} {number} over "
                 f"{issued.totals.payable} {issued.currency}, {detail}\n\n{issued.seller.name}\n"),
    }), now)  # fmt: skip


def load_invoice(ctx: AppContext, number: str) -> Invoice:
    with ctx.engine.connect() as conn:
        doc = conn.execute(select(schema.invoices.c.document).where(schema.invoices.c.number == number)).scalar()
    if doc is None:
        raise InvoicingError(f"no invoice numbered {number}")
    return invoice_from_json(doc)


def invoice_rows(ctx: AppContext, status: str | None = None) -> list[dict[str, Any]]:
    inv = schema.invoices
    q = select(inv.c.id, inv.c.number, inv.c.status, inv.c.payment_state, inv.c.customer_name, inv.c.currency,
               inv.c.gross_amount, inv.c.paid_amount, inv.c.due_date).order_by(inv.c.id)  # fmt: skip
    if status:
        q = q.where(inv.c.status == status)
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
