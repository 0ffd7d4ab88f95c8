"""Orders storage for applying deal events: one batch's orders with their open exceptions, invoice
tasks and drafts, loaded in a few queries up front; new rows get ids at once and are written in bulk
when the batch is flushed. That is what keeps a 100,000-deal import fast: a handful of queries per
batch, none per event, except where an event touches a row the batch did not load.

It also writes the order's invoice draft rows (`invoices`, `invoice_orders`), owned by invoicing,
in the same bulk batch; see docs/architecture.md for why and what should replace it.
"""

from __future__ import annotations

from collections.abc import Iterable, ValuesView
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Engine, NestedTransaction, Table, delete, select, update

from handoff.deals.domain.countries import country_code
from handoff.deals.domain.drafting import RenderedDraft
from handoff.deals.domain.flow import OrderSnapshot
from handoff.deals.domain.orders import DealEvent, DealInput, OrderState
from handoff.deals.repository import deal_from_json
from handoff.invoicing.domain.invoices import DocumentStatus, InvoiceKind, PaymentState
from handoff.kernel.money import ZERO, D, MoneyError
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many, update_many, upsert_many
from handoff.kernel.storage.unit_of_work import UnitOfWork, allocate_ids

INVOICE_TASK = "issue_invoice"  # the finance task to issue a ready deal's invoice
_OPEN = "open"
_DRAFT = DocumentStatus.DRAFT.value
_UNPAID = PaymentState.UNPAID.value
_INVOICE = InvoiceKind.INVOICE.value


class StoredDeal(NamedTuple):
    """An order's deal as last applied, and the time of that version."""

    deal: DealInput
    version_at: datetime


def stored_deal(engine: Engine, deal_id: str) -> StoredDeal | None:
    o = schema.orders
    with engine.connect() as conn:
        row = conn.execute(select(o.c.data, o.c.version_at).where(o.c.deal_id == deal_id)).one_or_none()
    return None if row is None else StoredDeal(deal_from_json(row.data), row.version_at)


def deals_with_open_exception(engine: Engine, reasons: Iterable[str]) -> list[str]:
    """Deal ids whose open exception has each of `reasons` (fields or codes of its problems, as in
    `exceptions.reasons`), oldest exception first."""
    ex = schema.exceptions
    q = select(ex.c.deal_id).where(ex.c.status == _OPEN).order_by(ex.c.opened_at, ex.c.id)
    for reason in reasons:
        q = q.where(ex.c.reasons.like(f"%|{reason}|%"))
    with engine.connect() as conn:
        return list(conn.execute(q).scalars())


def resolve_open_exceptions(uow: UnitOfWork, deal_ids: Iterable[str], reason: str, now: datetime) -> list[str]:
    """Resolve the open exceptions of these deals that have `reason` (a field or code of their
    problems); the deal ids resolved."""
    ex, wanted = schema.exceptions, list(deal_ids)
    if not wanted:
        return []
    where = (ex.c.deal_id.in_(wanted), ex.c.status == _OPEN, ex.c.reasons.like(f"%|{reason}|%"))
    found = list(uow.conn.execute(select(ex.c.deal_id).where(*where)).scalars())
    if found:
        uow.conn.execute(update(ex).where(*where).values(status="resolved", resolved_at=now, updated_at=now))
    return found


def open_exception_problems(uow: UnitOfWork, deal_ids: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """The problems of these deals' open exceptions, by deal id."""
    ex, wanted = schema.exceptions, list(deal_ids)
    if not wanted:
        return {}
    q = select(ex.c.deal_id, ex.c.problems).where(ex.c.deal_id.in_(wanted), ex.c.status == _OPEN)
    return {r.deal_id: list(r.problems) for r in uow.conn.execute(q)}


@dataclass
class OrderRecord:
    """An order as a batch holds it: the version applied, and the facts kept for the metrics."""

    id: int
    snapshot: OrderSnapshot
    ready_at: datetime | None
    invoiced_at: datetime | None
    received_at: datetime
    had_exception: bool = False
    touched_by_person: bool = False


def _order_columns(deal: DealInput, data: dict[str, object]) -> dict[str, Any]:
    get = deal.fields.get  # generic fields only: the mapping's own lookup, once per order saved
    try:
        amount = D(get("amount", "")) if get("amount") else None
    except MoneyError:
        amount = None
    return {
        "data": data,
        "customer_id": get("customer_id", ""),
        "customer_name": get("customer_legal_name", ""),
        "legal_entity": get("legal_entity", ""),
        "owner_email": get("owner_email", "").lower(),  # matched case-insensitively via an index
        "amount": amount,
        "currency": get("currency", "").upper()[:3],
    }


class OrderBook:
    """One transaction's worth of orders and the rows they touch, loaded up front (on PostgreSQL
    the orders are locked). Nothing is written before `flush` except changes to rows that already
    existed outside the batch's reach (a reopened task, a discarded stored draft)."""

    def __init__(self, uow: UnitOfWork, deal_ids: Iterable[str], capacity: int) -> None:
        """`capacity`: the most new rows of one table the batch can make (one per event)."""
        self._uow, self._capacity = uow, capacity
        o = schema.orders
        q = select(o).where(o.c.deal_id.in_(list(deal_ids)))
        if uow.is_postgres:
            q = q.with_for_update()
        self._orders: dict[str, OrderRecord] = {
            r.deal_id: OrderRecord(
                r.id,
                OrderSnapshot(r.deal_id, OrderState(r.state), r.version_at, r.version_event, deal_from_json(r.data)),
                r.ready_at,
                r.invoiced_at,
                r.received_at,
                r.had_exception,
                r.touched_by_person,
            )
            for r in uow.conn.execute(q)
        }
        ids = [x.id for x in self._orders.values()]
        self._open_exceptions: dict[int, int] = {}
        self._tasks: dict[int, tuple[int, str]] = {}
        self._drafts: dict[int, int] = {}
        if ids:  # a batch of new deals has nothing more to load (and IN () can cost a table scan)
            self._load_related(ids)
        self._customers: dict[str, dict[str, Any]] = {}
        self._customer_deals: dict[str, DealInput] = {}  # the deal each saved customer comes from
        self._order_updates: dict[int, dict[str, Any]] = {}
        self._inbox_updates: list[dict[str, Any]] = []
        # New rows wait here (with ids allocated up front) and are written in bulk by flush.
        self._pending: dict[str, dict[int, dict[str, Any]]] = {
            t: {} for t in ("orders", "exceptions", "tasks", "invoices")
        }
        self._links: list[dict[str, int]] = []
        self._ids: dict[str, list[int]] = {}

    def _load_related(self, ids: list[int]) -> None:
        """Open exceptions, invoice tasks and drafts of these orders. Each query is driven by the
        order ids and the status is filtered here: given `status = 'open'` (or 'draft') SQLite
        would walk that status's whole index, every open exception or draft, once per batch."""
        conn, ex, t = self._uow.conn, schema.exceptions, schema.tasks
        self._open_exceptions = {
            r.order_id: r.id
            for r in conn.execute(select(ex.c.order_id, ex.c.id, ex.c.status).where(ex.c.order_id.in_(ids)))
            if r.status == _OPEN
        }
        self._tasks = {
            r.order_id: (r.id, r.status)
            for r in conn.execute(
                select(t.c.order_id, t.c.id, t.c.status).where(t.c.order_id.in_(ids), t.c.kind == INVOICE_TASK)
            )
        }
        inv, link = schema.invoices, schema.invoice_orders
        links = conn.execute(select(link.c.order_id, link.c.invoice_id).where(link.c.order_id.in_(ids))).all()
        if links:
            linked = {r.invoice_id for r in links}
            drafts = set(
                conn.execute(
                    select(inv.c.id).where(inv.c.id.in_(linked), inv.c.status == _DRAFT, inv.c.kind == _INVOICE)
                ).scalars()
            )
            self._drafts = {r.order_id: r.invoice_id for r in links if r.invoice_id in drafts}

    # -- orders and customers

    def order(self, deal_id: str) -> OrderRecord | None:
        return self._orders.get(deal_id)

    @property
    def orders(self) -> ValuesView[OrderRecord]:
        return self._orders.values()

    def new_order(self, event: DealEvent, state: OrderState, now: datetime) -> OrderRecord:
        """An order for a deal seen for the first time; its deal's columns come with `save_order`."""
        deal = event.deal
        order_id = self._insert(
            schema.orders,
            {
                "deal_id": deal.deal_id,
                "source": event.source,
                "state": state.value,
                "version_at": event.occurred_at,
                "version_event": event.event_id,
                "received_at": now,
                "updated_at": now,
                "ready_at": None,
                "invoiced_at": None,
                "had_exception": False,
                "touched_by_person": False,
            },
        )
        order = OrderRecord(
            order_id, OrderSnapshot(deal.deal_id, state, event.occurred_at, event.event_id, deal), None, None, now
        )
        self._orders[deal.deal_id] = order
        return order

    def save_order(self, order: OrderRecord, data: dict[str, object], now: datetime) -> None:
        """Write the order as it now stands: its snapshot's version and deal (`data`: the deal as a dict)."""
        snapshot = order.snapshot
        self._order_updates[order.id] = {
            "_id": order.id,
            "state": snapshot.state.value,
            "version_at": snapshot.version_at,
            "version_event": snapshot.version_event,
            "ready_at": order.ready_at,
            "invoiced_at": order.invoiced_at,
            "had_exception": order.had_exception,
            "touched_by_person": order.touched_by_person,
            "updated_at": now,
            **_order_columns(snapshot.deal, data),
        }

    def save_customer(self, deal: DealInput, now: datetime) -> None:
        """The deal's customer as billed (the last version in the batch wins). Only for a deal that
        passed readiness: a blocked deal's data must not overwrite what a good one stored."""
        get = deal.fields.get
        customer_id = get("customer_id", "")
        self._customer_deals[customer_id] = deal
        self._customers[customer_id] = {
            "customer_id": customer_id,
            "legal_name": get("customer_legal_name", ""),
            "country": country_code(get("country", "")) or "",  # resolved, never cut to two letters
            "vat_id": get("vat_id", ""),
            "is_business": deal.is_business,
            "billing_email": get("billing_email", ""),
            "updated_at": now,
        }

    def customer_deals(self) -> list[DealInput]:
        """The deal each customer saved in the batch comes from (the last one per customer)."""
        return list(self._customer_deals.values())

    # -- the exception queue

    def has_open_exception(self, order: OrderRecord) -> bool:
        return order.id in self._open_exceptions

    def open_exception(
        self, order: OrderRecord, owner: str, problems: list[dict[str, str]], reasons: str, now: datetime
    ) -> None:
        self._open_exceptions[order.id] = self._insert(
            schema.exceptions,
            {
                "order_id": order.id,
                "deal_id": order.snapshot.deal_id,
                "owner": owner,
                "problems": problems,
                "reasons": reasons,
                "status": _OPEN,
                "opened_at": now,
                "updated_at": now,
                "resolved_at": None,
            },
        )

    def update_exception(
        self, order: OrderRecord, owner: str, problems: list[dict[str, str]], reasons: str, now: datetime
    ) -> None:
        values = {"problems": problems, "reasons": reasons, "owner": owner, "updated_at": now}
        self._update(schema.exceptions, self._open_exceptions[order.id], values)

    def put_exception(
        self, order: OrderRecord, owner: str, problems: list[dict[str, str]], reasons: str, now: datetime
    ) -> bool:
        """The order's open exception now says this: updated when there is one, else opened
        (True: it was opened)."""
        if self.has_open_exception(order):
            self.update_exception(order, owner, problems, reasons, now)
            return False
        self.open_exception(order, owner, problems, reasons, now)
        return True

    def resolve_exception(self, order: OrderRecord, now: datetime) -> None:
        exception_id = self._open_exceptions.pop(order.id)
        self._update(schema.exceptions, exception_id, {"status": "resolved", "resolved_at": now, "updated_at": now})

    # -- finance tasks

    def has_open_invoice_task(self, order: OrderRecord) -> bool:
        task = self._tasks.get(order.id)
        return task is not None and task[1] == _OPEN

    def open_task(self, order: OrderRecord, kind: str, note: str, now: datetime) -> bool:
        """Open (or reopen) the order's task of this kind; False when it is open already."""
        t = schema.tasks
        existing: tuple[int, str] | None
        if kind == INVOICE_TASK:
            existing = self._tasks.get(order.id)
        else:
            q = select(t.c.id, t.c.status).where(t.c.order_id == order.id, t.c.kind == kind)
            row = self._uow.conn.execute(q).first()
            existing = None if row is None else (row.id, row.status)
        if existing is not None and existing[1] == _OPEN:
            return False
        if existing is None:
            task_id = self._insert(
                t,
                {
                    "order_id": order.id,
                    "deal_id": order.snapshot.deal_id,
                    "kind": kind,
                    "status": _OPEN,
                    "note": note,
                    "created_at": now,
                    "assignee": None,
                    "done_at": None,
                },
            )
        else:
            task_id = existing[0]
            self._update(t, task_id, {"status": _OPEN, "done_at": None, "note": note})
        if kind == INVOICE_TASK:
            self._tasks[order.id] = (task_id, _OPEN)
        return True

    def cancel_invoice_task(self, order: OrderRecord, now: datetime) -> None:
        task_id = self._tasks[order.id][0]
        self._update(schema.tasks, task_id, {"status": "cancelled", "done_at": now})
        self._tasks[order.id] = (task_id, "cancelled")

    # -- invoice drafts

    def has_draft(self, order: OrderRecord) -> bool:
        return order.id in self._drafts

    def add_draft(self, order: OrderRecord, draft: RenderedDraft, now: datetime) -> None:
        invoice_id = self._insert(
            schema.invoices,
            {
                "draft_key": f"order:{order.snapshot.deal_id}",
                "kind": draft.kind,
                "status": _DRAFT,
                "payment_state": _UNPAID,
                "legal_entity": draft.legal_entity,
                "customer_id": draft.customer_id,
                "customer_name": draft.customer_name,
                "currency": draft.currency,
                "net_amount": draft.net,
                "tax_amount": draft.tax,
                "gross_amount": draft.gross,
                "paid_amount": ZERO,
                "document": orjson.Fragment(draft.document),
                "created_at": now,
                "number": None,
                "issue_date": None,
                "due_date": None,
                "payment_reference": None,
                "issued_at": None,
            },
        )
        self._links.append({"invoice_id": invoice_id, "order_id": order.id})
        self._drafts[order.id] = invoice_id

    def discard_draft(self, order: OrderRecord) -> None:
        invoice_id = self._drafts.pop(order.id)
        if self._pending["invoices"].pop(invoice_id, None) is not None:
            self._links = [link for link in self._links if link["invoice_id"] != invoice_id]
            return
        conn = self._uow.conn
        conn.execute(delete(schema.invoice_orders).where(schema.invoice_orders.c.invoice_id == invoice_id))
        conn.execute(delete(schema.invoices).where(schema.invoices.c.id == invoice_id))

    # -- the inbox events of the batch

    def mark_event(self, inbox_id: int, status: str, now: datetime, error: str | None = None) -> None:
        """How the inbox event went: applied, stale or failed (with its error)."""
        self._inbox_updates.append({"_id": inbox_id, "status": status, "processed_at": now, "error": error})

    # -- writing

    def savepoint(self) -> BookSavepoint:
        """A point to roll one event's rows and this book's state back to."""
        state = self._snapshot()
        return BookSavepoint(self, self._uow.conn.begin_nested(), state)

    def _snapshot(self) -> dict[str, Any]:
        """The batch's in-memory state, to restore when one event's savepoint is rolled back.
        Domain values are immutable, so copying the containers (and the mutable rows) suffices."""
        return {
            "_orders": {k: replace(v) for k, v in self._orders.items()},
            "_open_exceptions": dict(self._open_exceptions),
            "_tasks": dict(self._tasks),
            "_drafts": dict(self._drafts),
            "_customers": {k: dict(v) for k, v in self._customers.items()},
            "_customer_deals": dict(self._customer_deals),
            "_order_updates": {k: dict(v) for k, v in self._order_updates.items()},
            "_pending": {t: {i: dict(r) for i, r in rows.items()} for t, rows in self._pending.items()},
            "_links": [dict(link) for link in self._links],
        }

    def _restore(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def _insert(self, table: Table, row: dict[str, Any]) -> int:
        pool = self._ids.get(table.name)
        if not pool:
            pool = self._ids[table.name] = allocate_ids(self._uow.conn, table, self._capacity)
        row_id = pool.pop()
        self._pending[table.name][row_id] = {"id": row_id, **row}
        return row_id

    def _update(self, table: Table, row_id: int, values: dict[str, Any]) -> None:
        waiting = self._pending[table.name].get(row_id)
        if waiting is not None:
            waiting.update(values)
        else:
            self._uow.conn.execute(update(table).where(table.c.id == row_id).values(values))

    def flush(self) -> None:
        """Write what the batch collected: customers, new rows, order updates, inbox statuses."""
        conn = self._uow.conn
        upsert_many(
            conn,
            schema.customers,
            list(self._customers.values()),
            ["customer_id"],
            ["legal_name", "country", "vat_id", "is_business", "billing_email", "updated_at"],
        )
        for row_id in list(self._order_updates):
            if row_id in self._pending["orders"]:
                values = self._order_updates.pop(row_id)
                values.pop("_id")
                self._pending["orders"][row_id].update(values)
        for table in (schema.orders, schema.exceptions, schema.tasks, schema.invoices):
            insert_many(conn, table, list(self._pending[table.name].values()))
        insert_many(conn, schema.invoice_orders, self._links)
        update_many(conn, schema.orders, list(self._order_updates.values()))
        update_many(conn, schema.inbox, self._inbox_updates)


class BookSavepoint:
    """One event's savepoint: released, or rolled back with the book's state as it was."""

    def __init__(self, book: OrderBook, nested: NestedTransaction, state: dict[str, Any]) -> None:
        self._book, self._nested, self._state = book, nested, state

    def release(self) -> None:
        self._nested.commit()

    def rollback(self) -> None:
        self._nested.rollback()
        self._book._restore(self._state)
