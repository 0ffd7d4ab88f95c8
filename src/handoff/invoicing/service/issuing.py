"""Invoicing use cases: issue a draft (number it, date it, send it), list and load invoices.

Numbers are gapless per selling entity, series and year: the counter row is incremented in the
same transaction that issues the invoice (row-locked on PostgreSQL; SQLite serialises writers),
so a number is used exactly when an invoice is issued and never skipped or reused.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from handoff.accounting import service as accounting
from handoff.context import AppContext
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceKind, invoice_number, issue
from handoff.invoicing.repository.invoices import InvoiceRepository
from handoff.kernel.storage.unit_of_work import Notice, UnitOfWork


class InvoicingError(Exception):
    """A request that the invoice's state does not allow (logical, not transient)."""


def next_number(uow: UnitOfWork, entity: str, series: str, year: int) -> int:
    """The next gapless number of `entity`'s `series` in `year`, taken in `uow`'s transaction."""
    return uow.repository(InvoiceRepository).next_number(entity, series, year)


def issue_draft(ctx: AppContext, invoice_id: int, actor: str, on: date | None = None) -> Invoice:
    """Issue one draft: number, dates, payment reference; the finance task is done; the invoice
    goes to the customer's billing contact through the outbox."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        issued = _issue(uow, uow.repository(InvoiceRepository), ctx, invoice_id, actor, on or now.date(), now)
        uow.commit()
    return issued


def issue_all_drafts(
    ctx: AppContext, actor: str, on: date | None = None, batch: int = 200, failures: list[tuple[int, str]] | None = None
) -> list[Invoice]:
    """Issue every draft. Several workers may do this at once: each claims drafts with
    `FOR UPDATE SKIP LOCKED` on PostgreSQL, so no draft is issued twice and none waits. A draft
    that cannot be issued (say, a missing exchange rate) stays a draft and is reported in
    `failures`; the others are issued."""
    now = ctx.clock()
    issued: list[Invoice] = []
    after = 0
    while True:
        with ctx.unit_of_work() as uow:
            repo = uow.repository(InvoiceRepository)
            ids = repo.claim_drafts(after, batch)
            if not ids:
                return issued
            for invoice_id in ids:
                savepoint = uow.conn.begin_nested()
                mark = uow.mark()
                try:
                    issued.append(_issue(uow, repo, ctx, invoice_id, actor, on or now.date(), now))
                    savepoint.commit()
                except InvoicingError as exc:
                    savepoint.rollback()
                    uow.rollback_to(mark)
                    if failures is not None:
                        failures.append((invoice_id, str(exc)))
            after = ids[-1]
            uow.commit()


def _issue(
    uow: UnitOfWork, repo: InvoiceRepository, ctx: AppContext, invoice_id: int, actor: str, on: date, now: datetime
) -> Invoice:
    stored = repo.get(invoice_id, lock=True)
    if stored is None:
        raise InvoicingError(f"invoice id {invoice_id} does not exist")
    if stored.status is not DocumentStatus.DRAFT:
        raise InvoicingError(
            f"invoice {stored.number or invoice_id} is {stored.status.value}; only a draft can be issued"
        )
    draft = stored.invoice
    series = "INV" if draft.kind is InvoiceKind.INVOICE else "CRN"
    number = invoice_number(draft.seller, series, on.year, repo.next_number(stored.legal_entity, series, on.year))
    rate = ctx.config.exchange_rate(draft.tax_currency, draft.currency) if draft.tax_currency else None
    if draft.tax_currency and rate is None:
        raise InvoicingError(
            f"invoice {invoice_id} is in {draft.currency} from a {draft.tax_currency} seller: "
            f"configure exchange_rates.{draft.tax_currency}.{draft.currency}"
        )
    issued = issue(draft, number, on, rate)
    repo.store_issued(invoice_id, issued, now)
    if issued.kind is InvoiceKind.CREDIT_NOTE:
        _credit_note_issued(uow, issued, now, actor)
        # pushed to accounting, but not written back onto the deals: their invoice is still the one it corrects
        accounting.issued(uow, ctx, issued, [], now)
        return issued
    orders = repo.orders(invoice_id)
    order_ids = [o.id for o in orders]
    repo.mark_orders_sent(orders, now)
    repo.close_issue_tasks(order_ids, now, actor)
    for deal_id in issued.order_refs:
        uow.audit(
            at=now,
            actor=actor,
            action="invoice.issued",
            entity_type="order",
            entity_id=deal_id,
            reason="finance reviewed and sent the invoice",
            before={"state": "drafted", "invoice": None},
            after={"state": "sent", "invoice": number, "gross": issued.totals.tax_inclusive},
        )
    _email_buyer(
        uow,
        issued,
        "invoice",
        f"due on {issued.due_date}. Please pay to IBAN {issued.seller.iban or '-'} quoting {issued.payment_reference}.",
        now,
    )
    accounting.issued(uow, ctx, issued, order_ids, now)  # one push per configured accounting system
    return issued


def _credit_note_issued(uow: UnitOfWork, issued: Invoice, now: datetime, actor: str) -> None:
    """A credit note leaves its orders' states and tasks alone: they belong to the invoice it corrects."""
    number = issued.number or ""
    uow.audit(
        at=now,
        actor=actor,
        action="credit_note.issued",
        entity_type="invoice",
        entity_id=issued.corrects or "",
        reason="approved credit note issued",
        after={"credit_note": number, "gross": issued.totals.tax_inclusive},
    )
    _email_buyer(uow, issued, "credit_note", f"correcting invoice {issued.corrects}.", now)


def _email_buyer(uow: UnitOfWork, issued: Invoice, kind: str, detail: str, now: datetime) -> None:
    """The issued document to the buyer's billing contact; `detail` ends the sentence on its amount."""
    number, buyer, title = issued.number or "", issued.buyer, kind.replace("_", " ")
    uow.notify(
        Notice(
            f"email:{kind}:{number}",
            "email",
            "invoice",
            {
                "to": [buyer.billing_email],
                "subject": f"{title.capitalize()} {number} from {issued.seller.name}",
                "text": (
                    f"Dear {buyer.billing_contact_name or buyer.legal_name},\n\nplease find {title} {number} over "
                    f"{issued.totals.payable} {issued.currency}, {detail}\n\n{issued.seller.name}\n"
                ),
            },
        ),
        now,
    )


def load_invoice(ctx: AppContext, number: str) -> Invoice:
    with ctx.engine.connect() as conn:
        stored = InvoiceRepository(conn).by_number(number)
    if stored is None:
        raise InvoicingError(f"no invoice numbered {number}")
    return stored.invoice


def invoice_rows(ctx: AppContext, status: str | None = None) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        return [r._asdict() for r in InvoiceRepository(conn).rows(status)]
