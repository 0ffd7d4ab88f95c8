"""Intake use cases: store deal events in the inbox, then apply them to orders.

`receive` only stores (so a webhook can acknowledge fast and nothing is lost); `process_pending`
applies stored events in id order, in batches, each batch one transaction; `ingest` does both.
A batch loads its orders, exceptions, tasks and drafts in a few queries and writes in bulk, which
is what keeps bulk imports fast; each event still runs in its own savepoint, so one event that
fails is marked `failed` with its error while the rest of the batch goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, Table, delete, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from handoff.context import AppContext
from handoff.deals.domain.flow import Decision, OrderSnapshot, decide
from handoff.deals.domain.orders import DealEvent, DealInput, OrderState
from handoff.deals.domain.readiness import Problem
from handoff.deals.repository import deal_from_json
from handoff.kernel.money import D, MoneyError
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many, update_many, upsert_many
from handoff.kernel.storage.unit_of_work import UnitOfWork, allocate_ids
from handoff.notifications import service as notices
from handoff.runtime import drafts_ahead
from handoff.runtime import gc_pause as collector
from handoff.runtime.drafts_ahead import DraftsAhead, render_draft

INBOX_CHUNK = 1000
USER_SOURCE = "user:"  # events from a person's edit (app.orders.update_fields)


def problem_reasons(problems: Sequence[Problem]) -> str:
    """`|field|code|...`: what the exception queue filters by, searchable with LIKE on any engine."""
    return "|" + "|".join(sorted({p.field for p in problems} | {p.code for p in problems})) + "|"


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
        for start in range(0, len(events), INBOX_CHUNK):
            chunk = _dedupe(events[start:start + INBOX_CHUNK])
            known = set(uow.conn.execute(
                select(schema.inbox.c.source, schema.inbox.c.event_id).where(
                    schema.inbox.c.event_id.in_([e.event_id for e in chunk]))).all())  # fmt: skip
            fresh = [e for e in chunk if (e.source, e.event_id) not in known]
            insert_many(uow.conn, schema.inbox, [
                {"source": e.source, "event_id": e.event_id, "deal_id": e.deal.deal_id,
                 "occurred_at": e.occurred_at, "received_at": now, "payload": e.deal.as_dict(),
                 "status": "pending"} for e in fresh], ["source", "event_id"])  # fmt: skip
            report.received += len(fresh)
            report.new.update((e.source, e.event_id) for e in fresh)
            report.duplicates += len(events[start:start + INBOX_CHUNK]) - len(fresh)
        uow.commit()
    return report


def _dedupe(events: Sequence[DealEvent]) -> list[DealEvent]:
    seen: dict[tuple[str, str], DealEvent] = {}
    for e in events:
        seen.setdefault((e.source, e.event_id), e)
    return list(seen.values())


def ingest(ctx: AppContext, events: Sequence[DealEvent], batch: int = 2000,
           render_ahead: bool = False) -> tuple[ReceiveReport, ProcessReport]:  # fmt: skip
    """Store and apply events at once (file imports, edits). Bigger batches than a worker's: fewer
    commits (each a disk sync) for a bulk import, which holds the writer lock meanwhile anyway.
    `render_ahead`: for a bulk import from a single-threaded process (`handoff import`), invoice
    drafts are rendered on a forked helper meanwhile (see `drafts_ahead`)."""
    helper = None
    if render_ahead and len(events) >= collector.BULK and drafts_ahead.available():
        helper = drafts_ahead.DraftsAhead(ctx.config, _dedupe(events))  # starts before the events are stored
    try:
        with collector.for_bulk(len(events)):
            received = receive(ctx, events)
            fresh = {(e.source, e.event_id): e for e in events if (e.source, e.event_id) in received.new}
            return received, _process_pending(ctx, batch, None, fresh, helper)
    finally:
        if helper is not None:
            helper.close()


def process_pending(ctx: AppContext, batch: int = 500, limit: int | None = None) -> ProcessReport:
    """Apply pending inbox events until none is left (or `limit` were handled)."""
    return _process_pending(ctx, batch, limit, {}, None)


def _process_pending(ctx: AppContext, batch: int, limit: int | None, known: Mapping[tuple[str, str], DealEvent],
                     helper: DraftsAhead | None) -> ProcessReport:  # fmt: skip
    """`known`: events this process has in memory already, so their stored payload need not be
    read back and decoded. `helper`: invoice drafts rendered ahead for them."""
    report = ProcessReport()
    handled = 0
    while limit is None or handled < limit:
        size = batch if limit is None else min(batch, limit - handled)
        try:
            done = _process_batch(ctx, size, report, known, helper)
        except (IntegrityError, OperationalError):
            # Another worker created the same new order concurrently: the batch rolled back and
            # its events are still pending; taking them again sees that order.
            continue
        if done == 0:
            break
        handled += done
    return report


@dataclass
class _Order:
    id: int
    snapshot: OrderSnapshot
    ready_at: datetime | None
    invoiced_at: datetime | None
    received_at: datetime
    had_exception: bool = False
    touched_by_person: bool = False


class _Batch:
    """One transaction's worth of events and the rows they touch, loaded up front."""

    def __init__(self, ctx: AppContext, uow: UnitOfWork, rows: Sequence[Row[Any]],
                 helper: DraftsAhead | None = None) -> None:  # fmt: skip
        self.ctx, self.uow, self.rows, self.helper = ctx, uow, rows, helper
        deal_ids = list({r.deal_id for r in rows})
        o = schema.orders
        q = select(o).where(o.c.deal_id.in_(deal_ids))
        if uow.is_postgres:
            q = q.with_for_update()
        self.orders: dict[str, _Order] = {
            r.deal_id: _Order(r.id, OrderSnapshot(r.deal_id, OrderState(r.state), r.version_at, r.version_event,
                                                  deal_from_json(r.data)), r.ready_at, r.invoiced_at, r.received_at,
                             r.had_exception, r.touched_by_person)
            for r in uow.conn.execute(q)
        }  # fmt: skip
        ids = [x.id for x in self.orders.values()]
        self.open_exceptions: dict[int, int] = {}
        self.tasks: dict[int, tuple[int, str]] = {}
        self.drafts: dict[int, int] = {}
        if ids:  # a batch of new deals has nothing more to load (and IN () can cost a table scan)
            self._load_related(ids)
        self.customers: dict[str, dict[str, Any]] = {}
        self.order_updates: dict[int, dict[str, Any]] = {}
        self.inbox_updates: list[dict[str, Any]] = []
        # New rows wait here (with ids allocated up front) and are written in bulk by _flush.
        self.pending: dict[str, dict[int, dict[str, Any]]] = {
            t: {} for t in ("orders", "exceptions", "tasks", "invoices")
        }
        self.links: list[dict[str, int]] = []
        self._ids: dict[str, list[int]] = {}

    def _load_related(self, ids: list[int]) -> None:
        """Open exceptions, invoice tasks and drafts of these orders. Each query is driven by the
        order ids and the status is filtered here: given `status = 'open'` (or 'draft') SQLite
        would walk that status's whole index, every open exception or draft, once per batch."""
        conn, ex, t = self.uow.conn, schema.exceptions, schema.tasks
        self.open_exceptions = {
            r.order_id: r.id
            for r in conn.execute(select(ex.c.order_id, ex.c.id, ex.c.status).where(ex.c.order_id.in_(ids)))
            if r.status == "open"
        }
        self.tasks = {
            r.order_id: (r.id, r.status)
            for r in conn.execute(
                select(t.c.order_id, t.c.id, t.c.status).where(t.c.order_id.in_(ids), t.c.kind == "issue_invoice")
            )
        }
        inv, link = schema.invoices, schema.invoice_orders
        links = conn.execute(select(link.c.order_id, link.c.invoice_id).where(link.c.order_id.in_(ids))).all()
        if links:
            linked = {r.invoice_id for r in links}
            drafts = set(
                conn.execute(
                    select(inv.c.id).where(inv.c.id.in_(linked), inv.c.status == "draft", inv.c.kind == "invoice")
                ).scalars()
            )
            self.drafts = {r.order_id: r.invoice_id for r in links if r.invoice_id in drafts}

    def snapshot(self) -> dict[str, Any]:
        """The batch's in-memory state, to restore when one event's savepoint is rolled back.
        Domain values are immutable, so copying the containers (and the mutable rows) suffices."""
        return {
            "orders": {k: replace(v) for k, v in self.orders.items()},
            "open_exceptions": dict(self.open_exceptions), "tasks": dict(self.tasks), "drafts": dict(self.drafts),
            "customers": {k: dict(v) for k, v in self.customers.items()},
            "order_updates": {k: dict(v) for k, v in self.order_updates.items()},
            "pending": {t: {i: dict(r) for i, r in rows.items()} for t, rows in self.pending.items()},
            "links": [dict(link) for link in self.links],
        }  # fmt: skip

    def restore(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def insert(self, table: Table, row: dict[str, Any]) -> int:
        pool = self._ids.get(table.name)
        if not pool:
            pool = self._ids[table.name] = allocate_ids(self.uow.conn, table, len(self.rows))
        row_id = pool.pop()
        self.pending[table.name][row_id] = {"id": row_id, **row}
        return row_id

    def update(self, table: Table, row_id: int, values: dict[str, Any]) -> None:
        waiting = self.pending[table.name].get(row_id)
        if waiting is not None:
            waiting.update(values)
        else:
            self.uow.conn.execute(update(table).where(table.c.id == row_id).values(values))

    def delete_draft(self, invoice_id: int) -> None:
        if self.pending["invoices"].pop(invoice_id, None) is not None:
            self.links = [link for link in self.links if link["invoice_id"] != invoice_id]
            return
        self.uow.conn.execute(delete(schema.invoice_orders).where(schema.invoice_orders.c.invoice_id == invoice_id))
        self.uow.conn.execute(delete(schema.invoices).where(schema.invoices.c.id == invoice_id))


def _claim(uow: UnitOfWork, size: int) -> Sequence[Row[Any]]:
    i = schema.inbox
    q = select(*(c for c in i.c if c.name != "payload")).where(i.c.status == "pending").order_by(i.c.id).limit(size)
    if uow.is_postgres:
        q = q.with_for_update(skip_locked=True)
    return uow.conn.execute(q).all()


def _deals(uow: UnitOfWork, rows: Sequence[Row[Any]],
           known: Mapping[tuple[str, str], DealEvent]) -> dict[int, DealInput]:  # fmt: skip
    """Each claimed inbox row's deal: from memory when this process received it, else decoded
    from its stored payload."""
    deals = {r.id: e.deal for r in rows if (e := known.get((r.source, r.event_id))) is not None}
    missing = [r.id for r in rows if r.id not in deals]
    if missing:
        i = schema.inbox
        for row_id, payload in uow.conn.execute(select(i.c.id, i.c.payload).where(i.c.id.in_(missing))):
            deals[row_id] = deal_from_json(payload)
    return deals


def _process_batch(ctx: AppContext, size: int, report: ProcessReport, known: Mapping[tuple[str, str], DealEvent],
                   helper: DraftsAhead | None) -> int:  # fmt: skip
    """Fast path: the whole batch without savepoints. If anything in it fails, the transaction is
    rolled back and the batch redone with one savepoint per event, so only the bad event fails."""
    try:
        return _run_batch(ctx, size, report, known, helper, isolate=False)
    except (IntegrityError, OperationalError):
        raise
    except Exception:  # a bad event: redo the batch event by event
        return _run_batch(ctx, size, report, known, helper, isolate=True)


def _run_batch(ctx: AppContext, size: int, report: ProcessReport, known: Mapping[tuple[str, str], DealEvent],
               helper: DraftsAhead | None, isolate: bool) -> int:  # fmt: skip
    # not durable: what a batch writes derives from inbox rows that are (see UnitOfWork)
    with ctx.unit_of_work(durable=False) as uow:
        rows = _claim(uow, size)
        if not rows:
            return 0
        b = _Batch(ctx, uow, rows, helper)
        now = ctx.clock()
        outcome = ProcessReport()
        deals = _deals(uow, rows, known)
        for row in rows:
            event = DealEvent(row.source, row.event_id, row.occurred_at, deals[row.id])
            if not isolate:
                status = _apply(b, event, now)
            else:
                mark, state = uow.mark(), b.snapshot()
                savepoint = uow.conn.begin_nested()
                try:
                    status = _apply(b, event, now)
                    savepoint.commit()
                except (IntegrityError, OperationalError):
                    raise
                except Exception as exc:  # kept with its error for an operator; the others go on
                    savepoint.rollback()
                    uow.rollback_to(mark)
                    b.restore(state)
                    b.inbox_updates.append({"_id": row.id, "status": "failed", "processed_at": now,
                                            "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
                    outcome.failed += 1
                    continue
            b.inbox_updates.append({"_id": row.id, "status": status, "processed_at": now, "error": None})
            if status == "stale":
                outcome.stale += 1
            else:
                outcome.applied += 1
        _flush(b)
        uow.commit()
    report.applied += outcome.applied
    report.stale += outcome.stale
    report.failed += outcome.failed
    for order in b.orders.values():
        report.states[order.snapshot.state.value] = report.states.get(order.snapshot.state.value, 0) + 1
    return len(rows)


def _flush(b: _Batch) -> None:
    conn = b.uow.conn
    upsert_many(
        conn,
        schema.customers,
        list(b.customers.values()),
        ["customer_id"],
        ["legal_name", "country", "vat_id", "is_business", "billing_email", "updated_at"],
    )
    o = schema.orders
    for row_id in list(b.order_updates):
        if row_id in b.pending["orders"]:
            values = b.order_updates.pop(row_id)
            values.pop("_id")
            b.pending["orders"][row_id].update(values)
    for table in (schema.orders, schema.exceptions, schema.tasks, schema.invoices):
        insert_many(conn, table, list(b.pending[table.name].values()))
    insert_many(conn, schema.invoice_orders, b.links)
    update_many(conn, o, list(b.order_updates.values()))
    update_many(conn, schema.inbox, b.inbox_updates)


def _order_columns(deal: DealInput, data: dict[str, object]) -> dict[str, Any]:
    try:
        amount = D(deal.get("amount")) if deal.get("amount") else None
    except MoneyError:
        amount = None
    return {
        "data": data,
        "customer_id": deal.get("customer_id"),
        "customer_name": deal.get("customer_legal_name"),
        "legal_entity": deal.get("legal_entity"),
        "owner_email": deal.get("owner_email").lower(),  # matched case-insensitively via an index
        "amount": amount,
        "currency": deal.get("currency").upper()[:3],
    }


def _apply(b: _Batch, event: DealEvent, now: datetime) -> str:
    ctx, uow = b.ctx, b.uow
    deal = event.deal
    current = b.orders.get(deal.deal_id)
    cfg = ctx.config
    decision = decide(current.snapshot if current else None, deal, event.occurred_at, event.event_id,
                      cfg.ruleset, cfg.won_stages, cfg.model.automation.draft_on_ready)  # fmt: skip
    if decision.stale:
        return "stale"
    actor = event.source
    before_state = current.snapshot.state.value if current else None
    before_data = current.snapshot.deal.as_dict() if current else {}
    data = deal.as_dict()
    cols = _order_columns(deal, data)
    if current is None:
        order_id = b.insert(schema.orders, dict(
            deal_id=deal.deal_id, source=event.source, state=decision.state.value, version_at=event.occurred_at,
            version_event=event.event_id, received_at=now, updated_at=now, ready_at=None, invoiced_at=None,
            had_exception=False, touched_by_person=False,
            **cols))  # fmt: skip
        current = _Order(order_id, OrderSnapshot(deal.deal_id, decision.state, event.occurred_at, event.event_id, deal),
                         None, None, now)  # fmt: skip
        b.orders[deal.deal_id] = current
    changed = {k: (before_data.get(k), v) for k, v in data.items() if before_data.get(k) != v}
    uow.audit(at=now, actor=actor, action="order.version_applied", entity_type="order", entity_id=deal.deal_id,
              reason=decision.reason, before={"state": before_state, **{k: old for k, (old, _) in changed.items()}},
              after={"state": decision.state.value, **{k: new for k, (_, new) in changed.items()}})  # fmt: skip
    if deal.get("customer_id"):
        b.customers[deal.get("customer_id")] = {
            "customer_id": deal.get("customer_id"), "legal_name": deal.get("customer_legal_name"),
            "country": deal.get("country").upper()[:2], "vat_id": deal.get("vat_id"),
            "is_business": deal.is_business, "billing_email": deal.get("billing_email"), "updated_at": now}  # fmt: skip
    _apply_exception(b, current, decision, deal, actor, now)
    _apply_task_and_draft(b, current, decision, deal, event, actor, now)
    if decision.amended_after_invoice:
        _open_task(b, current.id, deal.deal_id, "review_amendment", actor, now, decision.reason)
    if decision.state in (OrderState.READY, OrderState.DRAFTED) and current.ready_at is None:
        current.ready_at = now
    current.snapshot = OrderSnapshot(deal.deal_id, decision.state, event.occurred_at, event.event_id, deal)
    if event.source.startswith(USER_SOURCE):
        current.touched_by_person = True
    b.order_updates[current.id] = {
        "_id": current.id, "state": decision.state.value, "version_at": event.occurred_at,
        "version_event": event.event_id, "ready_at": current.ready_at, "invoiced_at": current.invoiced_at,
        "had_exception": current.had_exception, "touched_by_person": current.touched_by_person,
        "updated_at": now, **cols}  # fmt: skip
    return "applied"


def _apply_exception(b: _Batch, order: _Order, decision: Decision, deal: DealInput, actor: str, now: datetime) -> None:
    uow, ex = b.uow, schema.exceptions
    problems = [p.as_dict() for p in decision.problems]
    reasons = problem_reasons(decision.problems)
    open_id = b.open_exceptions.get(order.id)
    owner = (deal.get("owner_email") or b.ctx.config.model.notifications.finance_email).lower()
    if decision.state is OrderState.BLOCKED:
        if open_id is None:
            b.open_exceptions[order.id] = b.insert(ex, dict(
                order_id=order.id, deal_id=deal.deal_id, owner=owner, problems=problems, reasons=reasons,
                status="open", opened_at=now, updated_at=now, resolved_at=None))  # fmt: skip
            order.had_exception = True
            uow.audit(at=now, actor=actor, action="exception.opened", entity_type="order", entity_id=deal.deal_id,
                      reason=decision.reason, after={"owner": owner, "problems": problems})  # fmt: skip
        else:
            b.update(ex, open_id, {"problems": problems, "reasons": reasons, "owner": owner, "updated_at": now})
            uow.audit(at=now, actor=actor, action="exception.updated", entity_type="order", entity_id=deal.deal_id,
                      reason=decision.reason, after={"owner": owner, "problems": problems})  # fmt: skip
        notices.exception_opened(uow, b.ctx, now, deal.deal_id, deal.get("deal_name"), owner, decision.problems)
    elif open_id is not None:
        b.update(ex, open_id, {"status": "resolved", "resolved_at": now, "updated_at": now})
        del b.open_exceptions[order.id]
        uow.audit(at=now, actor=actor, action="exception.resolved", entity_type="order", entity_id=deal.deal_id,
                  reason=decision.reason)  # fmt: skip


def _open_task(b: _Batch, order_id: int, deal_id: str, kind: str, actor: str, now: datetime, note: str) -> bool:
    t = schema.tasks
    existing = b.tasks.get(order_id) if kind == "issue_invoice" else b.uow.conn.execute(
        select(t.c.id, t.c.status).where(t.c.order_id == order_id, t.c.kind == kind)).first()  # fmt: skip
    if existing is not None and existing[1] == "open":
        return False
    if existing is None:
        task_id = b.insert(t, dict(order_id=order_id, deal_id=deal_id, kind=kind, status="open", note=note,
                                   created_at=now, assignee=None, done_at=None))  # fmt: skip
    else:
        task_id = existing[0]
        b.update(t, task_id, {"status": "open", "done_at": None, "note": note})
    if kind == "issue_invoice":
        b.tasks[order_id] = (task_id, "open")
    b.uow.audit(at=now, actor=actor, action="task.opened", entity_type="order", entity_id=deal_id,
                reason=note, after={"task": kind})  # fmt: skip
    return True


def _apply_task_and_draft(b: _Batch, order: _Order, decision: Decision, deal: DealInput, event: DealEvent,
                          actor: str, now: datetime) -> None:  # fmt: skip
    uow, t = b.uow, schema.tasks
    if decision.discard_draft and order.id in b.drafts:
        b.delete_draft(b.drafts.pop(order.id))
        uow.audit(at=now, actor=actor, action="invoice.draft_discarded", entity_type="order",
                  entity_id=deal.deal_id, reason="the deal changed after the draft was made")  # fmt: skip
    task = b.tasks.get(order.id)
    if decision.open_task:
        if _open_task(b, order.id, deal.deal_id, "issue_invoice", actor, now, "review and send the invoice"):
            notices.task_opened(uow, b.ctx, now, deal.deal_id, deal.get("deal_name"), event.event_id)
    elif task is not None and task[1] == "open" and decision.state in (OrderState.BLOCKED, OrderState.PIPELINE):
        b.update(t, task[0], {"status": "cancelled", "done_at": now})
        b.tasks[order.id] = (task[0], "cancelled")
        uow.audit(at=now, actor=actor, action="task.cancelled", entity_type="order", entity_id=deal.deal_id,
                  reason=decision.reason)  # fmt: skip
    if decision.make_draft:
        _make_draft(b, order, deal, event, actor, now)


def _make_draft(b: _Batch, order: _Order, deal: DealInput, event: DealEvent, actor: str, now: datetime) -> None:
    draft = b.helper.take(event.source, event.event_id) if b.helper is not None else None
    if draft is None:
        draft = render_draft(deal, b.ctx.config)
    invoice_id = b.insert(schema.invoices, dict(
        draft_key=f"order:{deal.deal_id}", kind=draft.kind, status="draft", payment_state="unpaid",
        legal_entity=draft.legal_entity, customer_id=draft.customer_id, customer_name=draft.customer_name,
        currency=draft.currency, net_amount=draft.net, tax_amount=draft.tax, gross_amount=draft.gross,
        paid_amount=D("0"), document=orjson.Fragment(draft.document), created_at=now, number=None, issue_date=None,
        due_date=None, payment_reference=None, issued_at=None))  # fmt: skip
    b.links.append({"invoice_id": invoice_id, "order_id": order.id})
    b.drafts[order.id] = invoice_id
    b.uow.audit(at=now, actor=actor, action="invoice.drafted", entity_type="order", entity_id=deal.deal_id,
                reason="billing data complete",
                after={"gross": draft.gross, "currency": draft.currency, "tax_rules": list(draft.tax_rules)})


def pending_count(ctx: AppContext) -> int:
    from sqlalchemy import func

    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.inbox).where(
            schema.inbox.c.status == "pending")).scalar_one())  # fmt: skip
