"""Invoicing use cases: issue a draft (number it, date it, send it), list and load invoices.

Numbers are gapless per selling entity, series and year: the counter row is incremented in the
same transaction that issues the invoice (row-locked on PostgreSQL; SQLite serialises writers),
so a number is used exactly when an invoice is issued and never skipped or reused.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from handoff.accounting import service as accounting
from handoff.context import AppContext
from handoff.deals.domain.orders import OrderState
from handoff.deals.service import einvoice_holds, tax_holds
from handoff.invoicing.domain.contacts import BillingContact
from handoff.invoicing.domain.exchange_rates import LOOKBACK_DAYS
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceKind, invoice_number, issue
from handoff.invoicing.domain.tax import TaxUndetermined
from handoff.invoicing.repository.invoices import InvoiceRepository
from handoff.invoicing.service import credits, einvoicing, exchange_rates, mailing, taxation
from handoff.kernel.storage.unit_of_work import UnitOfWork


class InvoicingError(Exception):
    """A request that the invoice's state does not allow (logical, not transient)."""


class TaxNotDetermined(InvoicingError):
    """The tax of a draft could not be decided at issue (a rate the running total now calls for is
    missing): it is not issued, its deals go to the exception queue (`deals.service.tax_holds`)."""

    def __init__(self, invoice_id: int, deal_ids: tuple[str, ...], cause: TaxUndetermined) -> None:
        super().__init__(
            f"invoice {invoice_id}: tax cannot be determined: {cause.message}; "
            f"{', '.join(deal_ids)} wait(s) in the exception queue"
        )
        self.invoice_id, self.deal_ids, self.cause = invoice_id, deal_ids, cause


class EInvoiceInvalid(InvoicingError):
    """The draft's e-invoice fails a fatal validation rule: it is not issued (no number is used),
    it stays a draft, and its deals go to finance's exception queue (`deals.service.einvoice_holds`)."""

    def __init__(self, invoice_id: int, deal_ids: tuple[str, ...], findings: list[tuple[str, str, str]]) -> None:
        listed = "; ".join(f"{rule} ({field}): {words}" for rule, field, words in findings)
        super().__init__(f"invoice {invoice_id}: its e-invoice fails validation, not issued: {listed}")
        self.invoice_id, self.deal_ids, self.findings = invoice_id, deal_ids, findings


def next_number(uow: UnitOfWork, entity: str, series: str, year: int) -> int:
    """The next gapless number of `entity`'s `series` in `year`, taken in `uow`'s transaction."""
    return uow.repository(InvoiceRepository).next_number(entity, series, year)


def issue_draft(ctx: AppContext, invoice_id: int, actor: str, on: date | None = None) -> Invoice:
    """Issue one draft: number, dates, payment reference; the finance task is done; the invoice
    goes to the customer's billing contact through the outbox."""
    now = ctx.clock()
    try:
        with ctx.unit_of_work() as uow:
            issued = _issue(uow, uow.repository(InvoiceRepository), ctx, invoice_id, actor, on or now.date(), now)
            uow.commit()
    except TaxNotDetermined as exc:
        with ctx.unit_of_work() as uow:
            tax_holds.hold(uow, ctx, exc.deal_ids, exc.cause, actor, now)
            uow.commit()
        raise
    except EInvoiceInvalid as exc:
        with ctx.unit_of_work() as uow:
            einvoice_holds.hold(uow, ctx, exc.deal_ids, exc.findings, exc.invoice_id, actor, now)
            uow.commit()
        raise
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
                    if isinstance(exc, TaxNotDetermined):  # its deals wait in the exception queue
                        tax_holds.hold(uow, ctx, exc.deal_ids, exc.cause, actor, now)
                    elif isinstance(exc, EInvoiceInvalid):  # the draft waits, its deals in the queue
                        einvoice_holds.hold(uow, ctx, exc.deal_ids, exc.findings, exc.invoice_id, actor, now)
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
    # the seller as configured when the document is issued: its payment means, registrations, branding
    seller = ctx.config.entities.get(stored.legal_entity)
    draft = stored.invoice if seller is None else replace(stored.invoice, seller=seller)
    series = "INV" if draft.kind is InvoiceKind.INVOICE else "CRN"
    number = invoice_number(draft.seller, series, on.year, repo.next_number(stored.legal_entity, series, on.year))
    try:  # EU distance sales are decided against the running total as it is now, under its lock
        draft = taxation.settle_on_issue(uow, ctx, draft, stored.legal_entity, number, on, actor, now)
    except TaxUndetermined as exc:
        if draft.kind is InvoiceKind.CREDIT_NOTE:
            raise InvoicingError(f"credit note {invoice_id}: {exc.message}") from exc
        raise TaxNotDetermined(invoice_id, draft.order_refs, exc) from exc
    rate = _exchange_rate(uow, ctx, draft, on) if draft.tax_currency else None
    if draft.tax_currency and rate is None:
        raise InvoicingError(
            f"invoice {invoice_id} is in {draft.currency} from a {draft.tax_currency} seller: no ECB rate "
            f"{draft.currency}->{draft.tax_currency} on or up to {LOOKBACK_DAYS} days before {on}; import the "
            f"ECB reference rates (handoff fx import eurofxref-daily.xml) or "
            f"configure exchange_rates.{draft.tax_currency}.{draft.currency}"
        )
    issued = issue(draft, number, on, rate)
    report = einvoicing.check(issued)  # the e-invoice as the customer gets it, before anything is written
    if report is not None and not report.passed:
        raise EInvoiceInvalid(invoice_id, draft.order_refs, einvoicing.fatal_findings(report, stored.legal_entity))
    repo.store_issued(invoice_id, issued, now, None if report is None else report.as_dict())
    einvoice_holds.release(uow, issued.order_refs, actor, now)
    if issued.kind is InvoiceKind.CREDIT_NOTE:
        _credit_note_issued(uow, issued, now, actor)
        # pushed to accounting, but not written back onto the deals: their invoice is still the one it corrects
        accounting.issued(uow, ctx, issued, [], now)
        credits.settle_corrected(uow, ctx, invoice_id, issued, actor)  # its credit settles that invoice first
        return issued
    orders = repo.orders(invoice_id)
    order_ids = [o.id for o in orders]
    # an order invoiced before (this bills the difference of an amendment) keeps its state and cycle
    invoiced = {o.deal_id: o.state.value for o in orders if o.state in (OrderState.SENT, OrderState.PAID)}
    repo.mark_orders_sent([o for o in orders if o.deal_id not in invoiced], now)
    repo.close_issue_tasks(order_ids, now, actor)
    linked = {o.deal_id for o in orders}
    for deal_id in issued.order_refs:
        # a contract's draft (billing run) may bill contracts that came from no deal: no order, no task
        billed_contract = deal_id not in linked and any(ln.contract_line for ln in issued.lines)
        uow.audit(
            at=now,
            actor=actor,
            action="invoice.issued",
            entity_type="contract" if billed_contract else "order",
            entity_id=deal_id,
            reason="finance reviewed and sent the invoice",
            before={"state": invoiced.get(deal_id, "drafted"), "invoice": None},
            after={"state": invoiced.get(deal_id, "sent"), "invoice": number, "gross": issued.totals.tax_inclusive},
        )
    mailing.queue(uow, issued, now)  # to the billing contact, with its documents attached at delivery
    accounting.issued(uow, ctx, issued, order_ids, now)  # one push per configured accounting system
    return issued


def _exchange_rate(uow: UnitOfWork, ctx: AppContext, draft: Invoice, on: date) -> Decimal | None:
    """Units of the seller's currency per unit of the invoice's for its VAT in accounting currency
    (BT-111): the stored ECB rate in force on the issue date, else the configured `exchange_rates`."""
    ecb = exchange_rates.rate_in(uow, draft.currency, draft.tax_currency, on)
    return ecb.rate if ecb is not None else ctx.config.exchange_rate(draft.tax_currency, draft.currency)


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
    mailing.queue(uow, issued, now)


def send_again(uow: UnitOfWork, issued: Invoice, to: BillingContact, key: str, now: datetime) -> None:
    """The issued invoice or credit note once more, to `to` (its billing contact as it stands now);
    `key` names this sending in the outbox (the first sending's key is taken)."""
    mailing.queue(uow, issued, now, to, key)


def load_invoice(ctx: AppContext, number: str) -> Invoice:
    with ctx.engine.connect() as conn:
        stored = InvoiceRepository(conn).by_number(number)
    if stored is None:
        raise InvoicingError(f"no invoice numbered {number}")
    return stored.invoice


def invoice_rows(ctx: AppContext, status: str | None = None) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        return [r._asdict() for r in InvoiceRepository(conn).rows(status)]
