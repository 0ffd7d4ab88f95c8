"""Intake use cases: store deal events in the inbox, then apply them to orders.

`receive` only stores (so a webhook can acknowledge fast and nothing is lost); `process_pending`
applies stored events in id order, in batches, each batch one transaction; `ingest` does both.
A batch loads its orders, exceptions, tasks and drafts in a few queries and writes in bulk (the
`OrderBook`), which is what keeps bulk imports fast; each event still runs in its own savepoint, so
one event that fails is marked `failed` with its error while the rest of the batch goes on.

Quote lock: a ready deal billed as a contract (`contracts.domain.quote.is_contract_deal`: a line
billed other than once, or a billing start after its close date) gets no one-shot draft: its quote
is locked as contract version 1 in the batch's transaction (`contracts.service.quote_lock`) and the
order stays `ready`, the billing run invoicing it as its schedule comes due; a quote that cannot be
a contract blocks the deal on the field named. A later version of a locked deal is an amendment:
the contract stands, and finance reviews the change (the `review_amendment` task, as for an
invoiced deal). A plain deal pays one look at its lines for this; which orders are locked is asked
once per batch, and only of orders in state `ready`.

Customer master: at the batch's end, a ready deal that changes a customer the master has versions
of adds a version there (`customers.service.sync_intake`: one query per batch, in its transaction);
a customer without versions keeps its `customers` row as its record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from handoff.context import AppContext, DraftsAhead
from handoff.contracts.domain.model import ContractError
from handoff.contracts.domain.quote import contract_from_deal, is_contract_deal
from handoff.contracts.service import quote_lock
from handoff.customers import service as customers
from handoff.deals.domain.drafting import RenderedDraft, render_draft
from handoff.deals.domain.flow import Decision, OrderSnapshot, decide
from handoff.deals.domain.orders import DealEvent, DealInput, OrderState, billing_customer
from handoff.deals.domain.readiness import Problem, ProblemCode
from handoff.deals.repository import DATABASE_ERRORS, inbox
from handoff.deals.repository.inbox import Inbox
from handoff.deals.repository.orders import INVOICE_TASK, OrderBook, OrderRecord
from handoff.deals.service import owners
from handoff.invoicing.domain.determination import TaxInputsNeeded
from handoff.invoicing.domain.tax import TaxUndetermined
from handoff.invoicing.service import taxation
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.notifications import service as notices

INBOX_CHUNK = 1000
USER_SOURCE = "user:"  # events from a person's edit (deals.service.orders.update_fields)
REVIEW_TASK = "review_amendment"  # finance reviews a change to an invoiced deal


REASONS_LENGTH = 1000  # the `exceptions.reasons` column


def problem_reasons(problems: Sequence[Problem]) -> str:
    """`|field|code|...`: what the exception queue filters by, searchable with LIKE on any engine.
    A deal with very many lines in trouble names each line field once (`lines[].unit_price`), so
    that the text fits its column; then only whole entries that fit."""
    names = sorted({p.field for p in problems} | {p.code for p in problems})
    text = "|" + "|".join(names) + "|"
    if len(text) <= REASONS_LENGTH:
        return text
    text = "|" + "|".join(sorted({re.sub(r"^lines\[\d+\]", "lines[]", n) for n in names})) + "|"
    return text if len(text) <= REASONS_LENGTH else text[: text.rfind("|", 0, REASONS_LENGTH) + 1]


@dataclass
class ReceiveReport:
    received: int = 0
    duplicates: int = 0
    new: set[tuple[str, str]] = field(default_factory=set)  # (source, event_id) stored by this call


@dataclass
class ProcessReport:
    applied: int = 0
    stale: int = 0
    failed: int = 0
    states: dict[str, int] = field(default_factory=dict)


def receive(ctx: AppContext, events: Sequence[DealEvent]) -> ReceiveReport:
    """Store events in the inbox, all or nothing. A (source, event id) already stored is skipped."""
    report = ReceiveReport()
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        stored = Inbox(uow)
        for start in range(0, len(events), INBOX_CHUNK):
            fresh = stored.store_new(dedupe(events[start : start + INBOX_CHUNK]), now)
            report.received += len(fresh)
            report.new.update((e.source, e.event_id) for e in fresh)
            report.duplicates += len(events[start : start + INBOX_CHUNK]) - len(fresh)
        uow.commit()
    return report


def dedupe(events: Sequence[DealEvent]) -> list[DealEvent]:
    """The first event of each source and event id, in order."""
    seen: dict[tuple[str, str], DealEvent] = {}
    for e in events:
        seen.setdefault((e.source, e.event_id), e)
    return list(seen.values())


def ingest(
    ctx: AppContext, events: Sequence[DealEvent], batch: int = 2000, render_ahead: bool = False
) -> tuple[ReceiveReport, ProcessReport]:
    """Store and apply events at once (file imports, edits). Bigger batches than a worker's: fewer
    commits (each a disk sync) for a bulk import, which holds the writer lock meanwhile anyway.
    `render_ahead`: for a bulk import from a single-threaded process (`handoff import`), invoice
    drafts may be rendered meanwhile by the runtime (`ctx.runtime.drafts_ahead`)."""
    # started before the events are stored
    helper = ctx.runtime.drafts_ahead(ctx.config, dedupe(events)) if render_ahead else None
    try:
        with ctx.runtime.bulk(len(events)):
            received = receive(ctx, events)
            fresh = {(e.source, e.event_id): e for e in events if (e.source, e.event_id) in received.new}
            return received, _process_pending(ctx, batch, None, fresh, helper)
    finally:
        if helper is not None:
            helper.close()


def process_pending(ctx: AppContext, batch: int = 500, limit: int | None = None) -> ProcessReport:
    """Apply pending inbox events until none is left (or `limit` were handled)."""
    return _process_pending(ctx, batch, limit, {}, None)


def _process_pending(
    ctx: AppContext,
    batch: int,
    limit: int | None,
    known: Mapping[tuple[str, str], DealEvent],
    helper: DraftsAhead | None,
) -> ProcessReport:
    """`known`: events this process has in memory already, so their stored payload need not be
    read back and decoded. `helper`: invoice drafts rendered ahead for them."""
    report = ProcessReport()
    handled = 0
    while limit is None or handled < limit:
        size = batch if limit is None else min(batch, limit - handled)
        try:
            done = _process_batch(ctx, size, report, known, helper)
        except DATABASE_ERRORS:
            # Another worker created the same new order concurrently: the batch rolled back and
            # its events are still pending; taking them again sees that order.
            continue
        if done == 0:
            break
        handled += done
    return report


def _process_batch(
    ctx: AppContext,
    size: int,
    report: ProcessReport,
    known: Mapping[tuple[str, str], DealEvent],
    helper: DraftsAhead | None,
) -> int:
    """Fast path: the whole batch without savepoints. If anything in it fails, the transaction is
    rolled back and the batch redone with one savepoint per event, so only the bad event fails."""
    try:
        return _run_batch(ctx, size, report, known, helper, isolate=False)
    except DATABASE_ERRORS:
        raise
    except Exception:  # a bad event: redo the batch event by event
        return _run_batch(ctx, size, report, known, helper, isolate=True)


@dataclass(frozen=True)
class _Batch:
    """What applying one batch's events works with: its transaction and the orders it touches."""

    ctx: AppContext
    uow: UnitOfWork
    book: OrderBook
    helper: DraftsAhead | None
    now: datetime
    # tax engines that did not answer in this batch: its other deals wait without asking again
    unreachable: dict[str, TaxUndetermined] = field(default_factory=dict)
    owners: dict[str, str | Problem] = field(default_factory=dict)  # owner addresses looked up (owners.py)
    # deal ids whose quote is locked as a contract: the batch's `ready` orders', read on first need
    # (`locks_read`), and those locked in this batch
    locked: set[str] = field(default_factory=set)
    locks_read: list[bool] = field(default_factory=list)


def _run_batch(
    ctx: AppContext,
    size: int,
    report: ProcessReport,
    known: Mapping[tuple[str, str], DealEvent],
    helper: DraftsAhead | None,
    isolate: bool,
) -> int:
    # not durable: what a batch writes derives from inbox rows that are (see UnitOfWork)
    with ctx.unit_of_work(durable=False) as uow:
        events = Inbox(uow).claim(size, known)
        if not events:
            return 0
        book = OrderBook(uow, {e.deal.deal_id for e in events.values()}, len(events))
        b = _Batch(ctx, uow, book, helper, ctx.clock())
        outcome = ProcessReport()
        for inbox_id, event in events.items():
            if not isolate:
                status = _apply(b, event)
            else:
                mark, savepoint = uow.mark(), book.savepoint()
                try:
                    status = _apply(b, event)
                    savepoint.release()
                except DATABASE_ERRORS:
                    raise
                except Exception as exc:  # kept with its error for an operator; the others go on
                    savepoint.rollback()
                    uow.rollback_to(mark)
                    b.locked.discard(event.deal.deal_id)  # a lock it made is undone (asked again if need be)
                    book.mark_event(inbox_id, "failed", b.now, f"{type(exc).__name__}: {exc}")
                    outcome.failed += 1
                    continue
            book.mark_event(inbox_id, status, b.now)
            if status == "stale":
                outcome.stale += 1
            else:
                outcome.applied += 1
        # a ready deal that changes a versioned customer: a new master version (one query per batch)
        customers.sync_intake(uow, book.customer_deals(), b.now)
        book.flush()
        uow.commit()
    report.applied += outcome.applied
    report.stale += outcome.stale
    report.failed += outcome.failed
    for order in book.orders:
        report.states[order.snapshot.state.value] = report.states.get(order.snapshot.state.value, 0) + 1
    return len(events)


def _apply(b: _Batch, event: DealEvent) -> str:
    """One event: decide what its version means for the order, then record it."""
    ctx, uow, book, now = b.ctx, b.uow, b.book, b.now
    deal = event.deal
    current = book.order(deal.deal_id)
    cfg = ctx.config
    decision = decide(
        current.snapshot if current else None,
        deal,
        event.occurred_at,
        event.event_id,
        cfg.ruleset,
        cfg.won_stages,
        cfg.model.automation.draft_on_ready,
    )
    if decision.stale:
        return "stale"
    locking = False
    if current is not None and _is_locked(b, current):
        decision = _amended_after_lock(current, deal, decision)
    elif (
        decision.passed_readiness
        and decision.state in (OrderState.READY, OrderState.DRAFTED)
        and is_contract_deal(deal, _closed_on(deal, event))
    ):
        decision = _lock_quote(b, deal, event, decision)
        locking = decision.state is OrderState.READY
    draft = None
    if decision.make_draft:  # before anything is written: a tax that cannot be determined blocks the deal
        draft, decision = _draft_or_hold(b, deal, event, decision)
    actor = event.source
    before_state = current.snapshot.state.value if current else None
    before_data = current.snapshot.deal.as_dict() if current else {}
    data = deal.as_dict()
    if current is None:
        current = book.new_order(event, decision.state, now)
    # what changed: a value given, changed or cleared (null where there was or is none)
    before: dict[str, object] = {"state": before_state}
    after: dict[str, object] = {"state": decision.state.value}
    for k, v in data.items():
        old = before_data.get(k)
        if old != v:
            before[k], after[k] = old, v
    for k in before_data.keys() - data.keys():
        before[k], after[k] = before_data[k], None
    uow.audit(
        at=now,
        actor=actor,
        action="order.version_applied",
        entity_type="order",
        entity_id=deal.deal_id,
        reason=decision.reason,
        before=before,
        after=after,
    )
    if deal.get("customer_id") and decision.passed_readiness:  # unchecked data never reaches the customer
        book.save_customer(deal, now)
    _apply_exception(b, current, decision, deal, actor)
    _apply_task_and_draft(b, current, decision, deal, event, actor, draft)
    if locking and book.has_open_invoice_task(current):  # a ready plain deal's task: the billing run invoices it now
        book.cancel_invoice_task(current, now)
        uow.audit(
            at=now,
            actor=actor,
            action="task.cancelled",
            entity_type="order",
            entity_id=deal.deal_id,
            reason=decision.reason,
        )
    if decision.amended_after_invoice:
        _open_task(b, current, REVIEW_TASK, actor, decision.reason)
    if decision.state in (OrderState.READY, OrderState.DRAFTED) and current.ready_at is None:
        current.ready_at = now
    current.snapshot = OrderSnapshot(deal.deal_id, decision.state, event.occurred_at, event.event_id, deal)
    if event.source.startswith(USER_SOURCE):
        current.touched_by_person = True
    book.save_order(current, data, now)
    return "applied"


def _closed_on(deal: DealInput, event: DealEvent) -> date:
    """The day the deal closed: its close date, else the day of this version."""
    try:
        return date.fromisoformat(deal.get("close_date")[:10])
    except ValueError:
        return event.occurred_at.date()


def _is_locked(b: _Batch, order: OrderRecord) -> bool:
    """Whether the order's quote is locked as a contract (only a `ready` order's can be): one query
    for all the batch's ready orders, the first time one is asked about."""
    if order.snapshot.state is not OrderState.READY:
        return False
    if not b.locks_read:
        ready = [o.snapshot.deal_id for o in b.book.orders if o.snapshot.state is OrderState.READY]
        b.locked.update(quote_lock.locked_among(b.uow, ready))
        b.locks_read.append(True)
    return order.snapshot.deal_id in b.locked


def _amended_after_lock(order: OrderRecord, deal: DealInput, decision: Decision) -> Decision:
    """A newer version of a deal whose quote is locked: the contract stands (a change order changes
    it); a version that differs is reviewed by finance, as an amendment after invoicing is."""
    changed = order.snapshot.deal.as_dict() != deal.as_dict()
    return Decision(
        OrderState.READY,
        amended_after_invoice=changed,
        passed_readiness=changed and decision.passed_readiness,
        reason="amended after the quote was locked as a contract: the contract stands; change it by a change order"
        if changed
        else "no change",
    )


def _lock_quote(b: _Batch, deal: DealInput, event: DealEvent, decision: Decision) -> Decision:
    """Lock the ready deal's quote as its contract (no one-shot draft); a quote that cannot be a
    contract blocks the deal on the field named; a contract that exists already makes the version
    an amendment."""
    try:
        closed_on = _closed_on(deal, event)
        cfg = b.ctx.config  # the agreed VAT treatment is locked with the lines, with its evidence
        seller = cfg.entities.get(deal.get("legal_entity"))
        version = contract_from_deal(deal, closed_on, seller=seller, rates=cfg.vat_rates)
        locked = quote_lock.lock_in(
            b.uow,
            b.ctx,
            version,
            billing_customer(deal),
            actor=event.source,
            reason=f"quote of deal {deal.deal_id} locked on closing",
            now=b.now,
            close_date=closed_on,
        )
    except ContractError as exc:
        problem = contract_problem(exc)
        return replace(
            decision,
            state=OrderState.BLOCKED,
            problems=(problem,),
            open_task=False,
            make_draft=False,
            passed_readiness=False,
            reason=f"not ready: {problem.field}",
        )
    if locked is None:
        return replace(
            decision,
            state=OrderState.READY,
            open_task=False,
            make_draft=False,
            amended_after_invoice=True,
            reason="the deal has a contract already: the contract stands; change it by a change order",
        )
    b.locked.add(deal.deal_id)
    return replace(
        decision,
        state=OrderState.READY,
        open_task=False,
        make_draft=False,
        reason=f"quote locked as contract {locked.contract_id} version 1: the billing run invoices it",
    )


def contract_problem(exc: ContractError) -> Problem:
    """A quote that cannot be a contract, as the exception-queue problem on the deal's field
    (`lines[N].<field>` for line `L<N+1>`)."""
    name = exc.field or "lines"
    if exc.line_key.startswith("L") and exc.line_key[1:].isdigit():
        name = f"lines[{int(exc.line_key[1:]) - 1}].{name}"
    return Problem(ProblemCode.INVALID, name, str(exc))


def _apply_exception(b: _Batch, order: OrderRecord, decision: Decision, deal: DealInput, actor: str) -> None:
    """A blocked deal opens (or updates) its exception and tells its owner; an unblocked one resolves it."""
    uow, book, now = b.uow, b.book, b.now
    is_open = book.has_open_exception(order)
    if decision.state is OrderState.BLOCKED:
        owner, not_owner = owners.exception_owner(b.ctx, uow, deal.get("owner_email"), b.owners)
        found = (*decision.problems, not_owner) if not_owner is not None else tuple(decision.problems)
        problems = [p.as_dict() for p in found]
        reasons = problem_reasons(found)
        action = "exception.updated"
        if book.put_exception(order, owner, problems, reasons, now):
            order.had_exception = True
            action = "exception.opened"
        uow.audit(
            at=now,
            actor=actor,
            action=action,
            entity_type="order",
            entity_id=deal.deal_id,
            reason=decision.reason,
            after={"owner": owner, "problems": problems},
        )
        notices.exception_opened(uow, b.ctx, now, deal.deal_id, deal.get("deal_name"), owner, found)
    elif is_open:
        book.resolve_exception(order, now)
        uow.audit(
            at=now,
            actor=actor,
            action="exception.resolved",
            entity_type="order",
            entity_id=deal.deal_id,
            reason=decision.reason,
        )


def _open_task(b: _Batch, order: OrderRecord, kind: str, actor: str, note: str) -> bool:
    """Open the order's finance task of this kind unless it is open already."""
    if not b.book.open_task(order, kind, note, b.now):
        return False
    b.uow.audit(
        at=b.now,
        actor=actor,
        action="task.opened",
        entity_type="order",
        entity_id=order.snapshot.deal_id,
        reason=note,
        after={"task": kind},
    )
    return True


def _apply_task_and_draft(
    b: _Batch,
    order: OrderRecord,
    decision: Decision,
    deal: DealInput,
    event: DealEvent,
    actor: str,
    draft: RenderedDraft | None,
) -> None:
    uow, book, now = b.uow, b.book, b.now
    if decision.discard_draft and book.has_draft(order):
        book.discard_draft(order)
        uow.audit(
            at=now,
            actor=actor,
            action="invoice.draft_discarded",
            entity_type="order",
            entity_id=deal.deal_id,
            reason="the deal changed after the draft was made",
        )
    if decision.open_task:
        if _open_task(b, order, INVOICE_TASK, actor, "review and send the invoice"):
            notices.task_opened(uow, b.ctx, now, deal.deal_id, deal.get("deal_name"), event.event_id)
    elif book.has_open_invoice_task(order) and decision.state in (OrderState.BLOCKED, OrderState.PIPELINE):
        book.cancel_invoice_task(order, now)
        uow.audit(
            at=now,
            actor=actor,
            action="task.cancelled",
            entity_type="order",
            entity_id=deal.deal_id,
            reason=decision.reason,
        )
    if decision.make_draft and draft is not None:
        _make_draft(b, order, deal, draft, actor)


def _draft_or_hold(
    b: _Batch, deal: DealInput, event: DealEvent, decision: Decision
) -> tuple[RenderedDraft | None, Decision]:
    """The invoice draft for finance to review (rendered ahead when the runtime did, else here,
    with what its tax needs from the database or a tax engine); or, when its tax cannot be
    determined, no draft and the deal blocked in the exception queue on what is missing."""
    draft = b.helper.take(event.source, event.event_id) if b.helper is not None else None
    if draft is not None:
        return draft, decision
    try:
        try:
            return render_draft(deal, b.ctx.config), decision
        except TaxInputsNeeded as needed:
            inputs = taxation.draft_inputs(b.uow, b.ctx, needed, b.unreachable)
            return render_draft(deal, b.ctx.config, inputs), decision
    except TaxUndetermined as exc:
        held = replace(
            decision,
            state=OrderState.BLOCKED,
            problems=(tax_problem(exc),),
            open_task=False,
            make_draft=False,
            reason=f"tax cannot be determined: {exc.field}",
        )
        return None, held


def tax_problem(cause: TaxUndetermined) -> Problem:
    """The exception-queue problem of a tax that cannot be determined (see `tax_holds`)."""
    return Problem(ProblemCode.TAX_UNDETERMINED, cause.field, f"tax cannot be determined ({cause.reason}): {cause}")


def _make_draft(b: _Batch, order: OrderRecord, deal: DealInput, draft: RenderedDraft, actor: str) -> None:
    b.book.add_draft(order, draft, b.now)
    b.uow.audit(
        at=b.now,
        actor=actor,
        action="invoice.drafted",
        entity_type="order",
        entity_id=deal.deal_id,
        reason="billing data complete",
        after={"gross": draft.gross, "currency": draft.currency, "tax_rules": list(draft.tax_rules)},
    )


def pending_count(ctx: AppContext) -> int:
    return inbox.pending_count(ctx.engine)
