"""Deals whose invoice tax cannot be determined: held in the exception queue, and retried.

Never an invoice taxed at 0 for want of data: when drafting (`intake`) or issuing
(`invoicing.service.issuing`) meets `TaxUndetermined` (no rate for the category where the sale is
taxed, no jurisdiction in the sales tax rate table, no rate to EUR, a tax engine not configured,
refusing or unreachable), the deal's order is blocked with one problem, code `tax_undetermined`, on
the field that names what is missing (`tax.rate`, `tax.jurisdiction`, `tax.exchange_rate`,
`tax.engine`, `billing_state` ...), and its owner is told, as for any exception. The deal is kept as
it came: nothing is lost while it waits.

`retry` sends held deals through intake again as they stand (a new version of the same deal, just
after the one applied, so that a newer version from the CRM still wins), once the configuration is
fixed or the engine answers again; the workers retry engine outages by themselves (`tax_retry`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent, OrderState
from handoff.deals.domain.readiness import Problem, ProblemCode
from handoff.deals.repository.orders import OrderBook, deals_with_open_exception, stored_deal
from handoff.deals.service import owners
from handoff.deals.service.intake import ProcessReport, ingest, problem_reasons, tax_problem
from handoff.invoicing.domain.tax import TaxUndetermined
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.notifications import service as notices

RETRY_SOURCE = "tax-retry"  # the source of the versions `retry` sends
ENGINE_FIELD = "tax.engine"  # the problems an engine outage makes; what the worker retries


def hold(
    uow: UnitOfWork, ctx: AppContext, deal_ids: Iterable[str], cause: TaxUndetermined, actor: str, now: datetime
) -> None:
    """Block these deals' orders on `cause` (at issue: the draft is discarded and its task
    cancelled; the retry drafts anew), in `uow`'s transaction."""
    wanted = sorted(set(deal_ids))
    book = OrderBook(uow, wanted, len(wanted))
    found = [tax_problem(cause)]
    known: dict[str, str | Problem] = {}
    for deal_id in wanted:
        order = book.order(deal_id)
        if order is None:
            continue
        deal = order.snapshot.deal
        before = order.snapshot.state
        owner, not_owner = owners.exception_owner(ctx, uow, deal.get("owner_email"), known)
        problems = [*found, not_owner] if not_owner is not None else found
        reasons = problem_reasons(problems)
        if book.put_exception(order, owner, [p.as_dict() for p in problems], reasons, now):
            order.had_exception = True
        if book.has_open_invoice_task(order):
            book.cancel_invoice_task(order, now)
        if book.has_draft(order):
            book.discard_draft(order)
        order.snapshot = replace(order.snapshot, state=OrderState.BLOCKED)
        book.save_order(order, deal.as_dict(), now)
        uow.audit(
            at=now,
            actor=actor,
            action="exception.opened",
            entity_type="order",
            entity_id=deal_id,
            reason=f"tax cannot be determined: {cause}",
            before={"state": before.value},
            after={"state": OrderState.BLOCKED.value, "owner": owner, "problems": [p.as_dict() for p in problems]},
        )
        notices.exception_opened(uow, ctx, now, deal_id, deal.get("deal_name"), owner, tuple(problems))
    book.flush()


def held(ctx: AppContext, *, engine_only: bool = False) -> list[str]:
    """Deals waiting because their tax could not be determined (`engine_only`: because a tax engine
    did not answer or is not configured), oldest first."""
    reasons = [ProblemCode.TAX_UNDETERMINED.value] + ([ENGINE_FIELD] if engine_only else [])
    return deals_with_open_exception(ctx.engine, reasons)


def retry(
    ctx: AppContext, actor: str, deal_ids: Iterable[str] | None = None, *, engine_only: bool = False
) -> ProcessReport:
    """Send held deals (all, or `deal_ids` among them) through intake again, audited on each."""
    waiting = held(ctx, engine_only=engine_only)
    if deal_ids is not None:
        wanted = set(deal_ids)
        waiting = [d for d in waiting if d in wanted]
    if not waiting:
        return ProcessReport()
    now = ctx.clock()
    events = []
    for deal_id in waiting:
        stored = stored_deal(ctx.engine, deal_id)
        if stored is None:
            continue
        at = stored.version_at + timedelta(microseconds=1)
        events.append(DealEvent(RETRY_SOURCE, f"{RETRY_SOURCE}-{uuid.uuid4()}", at, stored.deal))
    with ctx.unit_of_work() as uow:
        for e in events:
            uow.audit(
                at=now,
                actor=actor,
                action="tax.retried",
                entity_type="order",
                entity_id=e.deal.deal_id,
                reason="tax determination tried again",
            )
        uow.commit()
    return ingest(ctx, events)[1]
