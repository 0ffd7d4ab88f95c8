"""Contracts storage: contracts, their versions, schedule items, billed items and milestone acceptances.

The billing run's SQL is here too: it walks the planned schedule items contract by contract
(`due_contracts`, on a partial index of the planned items), claims a chunk of contracts (on
PostgreSQL `FOR UPDATE SKIP LOCKED`, so several workers share a run and none waits), loads what the
chunk bills in a few queries and writes its drafts in bulk. Exactly once is the `billed_items`
unique key (contract, line, period), written in the draft's transaction: a second run that got
past everything else fails on it and writes nothing.

Like intake (`deals/repository/orders.py`), it writes the drafts' rows into invoicing's tables
(`invoices`, `invoice_orders`) and reopens the linked orders' `issue_invoice` finance tasks in the
same bulk batch; it reads `orders` (read-only) to link a contract made from a deal to its order.
A delivery item's `detail` (the entries it bills, for the invoice annex) is read by the run only for
the due items that have one, in a second query: the common item carries none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnClause, Engine, String, literal_column, select, update
from sqlalchemy.exc import IntegrityError

from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many, update_many
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine
from handoff.kernel.storage.unit_of_work import UnitOfWork, allocate_ids

PLANNED = "planned"
BILLED = "billed"
APPROVED = "approved"  # contracts.review_state of terms that may be billed
INVOICE_TASK = "issue_invoice"
# triggers of the items that may carry a `detail` (delivery items: `service.delivery`)
DETAILED_TRIGGERS = frozenset({"time", "expense", "retainer"})
_PLANNED_SQL: ColumnClause[str] = literal_column(
    "'planned'", String()
)  # a literal, so SQLite uses the partial index of planned items


class AlreadyWritten(Exception):
    """A unique key refused the write (a contract, an acceptance or a billed item that exists
    already, written meanwhile by another transaction): the transaction must be rolled back."""


@dataclass(frozen=True, slots=True)
class ContractHeader:
    """A contract's row: who is billed, by which entity, in what currency and terms."""

    id: int
    contract_id: str
    customer_id: str
    legal_entity: str
    currency: str
    payment_terms: str
    po_number: str
    consolidate: bool
    status: str
    origin: str
    current_version: int
    buyer: dict[str, Any]
    created_at: datetime | None = None  # (not read by the billing run)
    updated_at: datetime | None = None
    planned_through: date | None = None  # auto-renewing lines planned up to (exclusive); None: all planned


@dataclass(frozen=True, slots=True)
class VersionRow:
    contract_id: str
    version: int
    effective: date
    change_order: str
    content: dict[str, Any]
    content_hash: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class ItemRow:
    """A schedule item as stored, with what billed it (`invoice_id`, and the invoice's number and status)."""

    id: int
    contract_id: str
    line_key: str
    period_key: str
    period_start: date
    period_end: date
    bill_date: date | None
    amount: Decimal
    gross: Decimal
    discount: Decimal
    quantity: Decimal
    unit_price: Decimal
    description: str
    product: str
    unit_code: str
    tax_category: str
    supply: str
    trigger: str
    status: str
    version: int
    invoice_id: int | None
    invoice_number: str | None = None
    invoice_status: str | None = None
    note: str = ""  # the invoice line's note (BT-127): a delivery item's source
    detail: list[dict[str, Any]] | None = None  # a delivery item's entries (invoice annex rows, as JSON)


@dataclass(frozen=True, slots=True)
class BilledInvoice:
    """An invoice that billed schedule items: its id, number (None until issued), status and kind."""

    invoice_id: int
    number: str | None
    status: str
    kind: str
    issue_date: date | None


@dataclass(frozen=True, slots=True)
class Acceptance:
    contract_id: str
    milestone_key: str
    accepted_on: date
    accepted_by: str
    event_id: str


_c, _v, _s, _b, _m = (
    schema.contracts,
    schema.contract_versions,
    schema.schedule_items,
    schema.billed_items,
    schema.milestone_acceptances,
)
_ITEM_COLUMNS = [c for c in _s.c if c.key != "id"]
# the billing run reads an item's `detail` (a delivery item's entries, possibly thousands) only
# for the items that have one, in a second query
_DUE_COLUMNS = [c for c in _s.c if c.key != "detail"]


def _header(r: Any, stamped: bool = True) -> ContractHeader:
    return ContractHeader(
        r.id,
        r.contract_id,
        r.customer_id,
        r.legal_entity,
        r.currency,
        r.payment_terms,
        r.po_number,
        bool(r.consolidate),
        r.status,
        r.origin,
        r.current_version,
        r.buyer,
        r.created_at if stamped else None,
        r.updated_at if stamped else None,
        r.planned_through,
    )


def _item(
    r: Any, number: str | None = None, status: str | None = None, detail: list[dict[str, Any]] | None = None
) -> ItemRow:
    return ItemRow(
        r.id,
        r.contract_id,
        r.line_key,
        r.period_key,
        r.period_start,
        r.period_end,
        r.bill_date,
        r.amount,
        r.gross,
        r.discount,
        r.quantity,
        r.unit_price,
        r.description,
        r.product,
        r.unit_code,
        r.tax_category,
        r.supply,
        r.trigger,
        r.status,
        r.version,
        r.invoice_id,
        number,
        status,
        r.note,
        detail,
    )


class ContractRepository(OnUnitOfWorkOrEngine):
    """Contracts on a unit of work (reads and writes) or on an engine (reads only)."""

    def __init__(self, on: UnitOfWork | Engine) -> None:
        super().__init__(on)
        self._postgres = self._engine.dialect.name == "postgresql"

    # -- one contract ------------------------------------------------------------------------

    def header(self, contract_id: str, *, lock: bool = False) -> ContractHeader | None:
        q = select(_c).where(_c.c.contract_id == contract_id)
        if lock and self._postgres:
            q = q.with_for_update()
        with self._connect() as conn:
            row = conn.execute(q).one_or_none()
        return None if row is None else _header(row)

    def add_contract(self, row: dict[str, Any], version: dict[str, Any], items: Sequence[dict[str, Any]]) -> None:
        """A new contract with its first version and planned items (the caller checked it is new;
        the unique contract id refuses a second one all the same)."""
        conn = self._tx
        try:
            insert_many(conn, _c, [row])
        except IntegrityError as exc:
            raise AlreadyWritten(str(exc.orig)) from None
        insert_many(conn, _v, [version])
        insert_many(conn, _s, list(items))

    def versions(self, contract_id: str) -> list[VersionRow]:
        q = select(_v).where(_v.c.contract_id == contract_id).order_by(_v.c.version)
        with self._connect() as conn:
            return [
                VersionRow(
                    r.contract_id,
                    r.version,
                    r.effective,
                    r.change_order,
                    dict(r.content),
                    r.content_hash,
                    r.created_at,
                    r.created_by,
                )
                for r in conn.execute(q)
            ]

    def items(self, contract_id: str) -> list[ItemRow]:
        """The contract's schedule items in line and period order, with the invoice each billed
        (its number and status, read-only from `invoices`)."""
        inv = schema.invoices
        q = (
            select(_s, inv.c.number.label("invoice_number"), inv.c.status.label("invoice_status"))
            .outerjoin(inv, inv.c.id == _s.c.invoice_id)
            .where(_s.c.contract_id == contract_id)
            .order_by(_s.c.line_key, _s.c.period_start, _s.c.period_key)
        )
        with self._connect() as conn:
            return [_item(r, r.invoice_number, r.invoice_status, r.detail) for r in conn.execute(q)]

    def item(self, contract_id: str, line_key: str | None, period_key: str) -> ItemRow | None:
        q = select(_s).where(_s.c.contract_id == contract_id, _s.c.period_key == period_key)
        if line_key is not None:
            q = q.where(_s.c.line_key == line_key)
        with self._connect() as conn:
            row = conn.execute(q.limit(1)).first()
        return None if row is None else _item(row, detail=row.detail)

    def scheduled(self, contract_id: str, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Those of the (line key, period key) pairs the contract's schedule has already, with their
        status (planned, billed, ...)."""
        wanted = set(keys)
        periods = sorted({period for _, period in wanted})
        found: dict[tuple[str, str], str] = {}
        conn = self._tx
        for start in range(0, len(periods), 500):
            q = select(_s.c.line_key, _s.c.period_key, _s.c.status).where(
                _s.c.contract_id == contract_id, _s.c.period_key.in_(periods[start : start + 500])
            )
            for r in conn.execute(q):
                if (r.line_key, r.period_key) in wanted:
                    found[(r.line_key, r.period_key)] = r.status
        return found

    def add_items(self, items: Sequence[dict[str, Any]]) -> None:
        """Add schedule items (the caller checked they are new; the unique (contract, line, period)
        refuses one written meanwhile all the same: AlreadyWritten, the transaction must roll back)."""
        try:
            insert_many(self._tx, _s, list(items))
        except IntegrityError as exc:
            raise AlreadyWritten(str(exc.orig)) from None

    def acceptance(self, contract_id: str, milestone_key: str) -> Acceptance | None:
        q = select(_m).where(_m.c.contract_id == contract_id, _m.c.milestone_key == milestone_key)
        with self._connect() as conn:
            r = conn.execute(q).one_or_none()
        return (
            None if r is None else Acceptance(r.contract_id, r.milestone_key, r.accepted_on, r.accepted_by, r.event_id)
        )

    def accept(self, acceptance: Acceptance, item_id: int, now: datetime) -> None:
        """Record the acceptance; the milestone's planned item becomes due on its day."""
        conn = self._tx
        row = {
            "contract_id": acceptance.contract_id,
            "milestone_key": acceptance.milestone_key,
            "accepted_on": acceptance.accepted_on,
            "accepted_by": acceptance.accepted_by,
            "event_id": acceptance.event_id,
            "recorded_at": now,
        }
        try:
            insert_many(conn, _m, [row])
        except IntegrityError as exc:
            raise AlreadyWritten(str(exc.orig)) from None
        conn.execute(
            update(_s).where(_s.c.id == item_id, _s.c.status == PLANNED).values(bill_date=acceptance.accepted_on)
        )
        conn.execute(update(_c).where(_c.c.contract_id == acceptance.contract_id).values(updated_at=now))

    def rows(self, limit: int = 500, customer_id: str | None = None) -> list[ContractHeader]:
        q = select(_c).order_by(_c.c.contract_id).limit(limit)
        if customer_id is not None:
            q = q.where(_c.c.customer_id == customer_id)
        with self._connect() as conn:
            return [_header(r) for r in conn.execute(q)]

    # -- the billing run ---------------------------------------------------------------------

    def renewing(self, before: date, after: str, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to `limit` contracts after `after`, in order, whose auto-renewing lines are planned
        only up to a day before `before`: (contract id, its current version's content)."""
        q = (
            select(_c.c.contract_id, _v.c.content)
            .join(_v, (_v.c.contract_id == _c.c.contract_id) & (_v.c.version == _c.c.current_version))
            .where(_c.c.planned_through < before, _c.c.contract_id > after)
            .order_by(_c.c.contract_id)
            .limit(limit)
        )
        if self._postgres:
            q = q.with_for_update(of=_c, skip_locked=True)
        return [(r.contract_id, dict(r.content)) for r in self._tx.execute(q)]

    def plan_ahead(self, contract_id: str, items: Sequence[dict[str, Any]], through: date, now: datetime) -> int:
        """Add the items not planned yet (those planned, billed or superseded are kept as they
        are) and the new horizon; the number of items added."""
        conn = self._tx
        q = select(_s.c.line_key, _s.c.period_key).where(_s.c.contract_id == contract_id)
        known = {(r.line_key, r.period_key) for r in conn.execute(q)}
        new = [row for row in items if (row["line_key"], row["period_key"]) not in known]
        insert_many(conn, _s, new, ignore_conflicts_on=["contract_id", "line_key", "period_key"])
        conn.execute(update(_c).where(_c.c.contract_id == contract_id).values(planned_through=through, updated_at=now))
        return len(new)

    def due_contracts(self, on: date, after: str, limit: int) -> list[str]:
        """Up to `limit` contract ids after `after`, in order, with a planned item due on `on`."""
        q = (
            select(_s.c.contract_id)
            .where(_s.c.status == _PLANNED_SQL, _s.c.bill_date <= on, _s.c.contract_id > after)
            .group_by(_s.c.contract_id)
            .order_by(_s.c.contract_id)
            .limit(limit)
        )
        return list(self._tx.execute(q).scalars())

    def claim(self, contract_ids: Sequence[str]) -> dict[str, ContractHeader]:
        """The contracts' rows, locked until the transaction ends; on PostgreSQL those another run
        holds are skipped (that run bills them), and everywhere those whose terms are not approved."""
        columns = [c for c in _c.c if c.key not in ("created_at", "updated_at")]
        q = select(*columns).where(_c.c.contract_id.in_(list(contract_ids)))
        if "review_state" in _c.c:  # (migration 0023) terms awaiting the deal desk's approval are not billed
            q = q.where(_c.c.review_state == APPROVED)
        if self._postgres:
            q = q.with_for_update(skip_locked=True)
        return {r.contract_id: _header(r, stamped=False) for r in self._tx.execute(q)}

    def due_items(self, contract_ids: Sequence[str], on: date) -> list[ItemRow]:
        """The contracts' planned items due on `on` (bill date on or before it), in contract, line
        and period order."""
        due = (_s.c.contract_id.in_(list(contract_ids)), _s.c.status == _PLANNED_SQL, _s.c.bill_date <= on)
        rows = self._tx.execute(select(*_DUE_COLUMNS).where(*due).order_by(_s.c.contract_id, _s.c.id)).all()
        details: dict[int, list[dict[str, Any]]] = {}
        if any(r.trigger in DETAILED_TRIGGERS for r in rows):  # only delivery items have a detail
            q = select(_s.c.id, _s.c.detail).where(*due, _s.c.detail.is_not(None))
            details = {r.id: r.detail for r in self._tx.execute(q)}
        return [_item(r, detail=details.get(r.id)) for r in rows]

    def billed_with_prefix(self, contract_id: str, line_key: str, prefix: str) -> list[BilledInvoice]:
        """The invoices that billed the contract line's periods whose key starts with `prefix` (a
        delivery month's items: "time:2027-01:"), newest first (read-only from `invoices`)."""
        inv = schema.invoices
        q = (
            select(_b.c.invoice_id, inv.c.number, inv.c.status, inv.c.kind, inv.c.issue_date)
            .join(inv, inv.c.id == _b.c.invoice_id)
            .where(
                _b.c.contract_id == contract_id,
                _b.c.line_key == line_key,
                _b.c.period_key.startswith(prefix, autoescape=True),
            )
            .order_by(_b.c.invoice_id.desc())
        )
        return [BilledInvoice(r.invoice_id, r.number, r.status, r.kind, r.issue_date) for r in self._tx.execute(q)]

    def orders_of(self, deal_ids: Iterable[str]) -> dict[str, int]:
        """Order id by deal id, for the contracts that came from a deal (read-only)."""
        o = schema.orders
        ids = list(deal_ids)
        if not ids:
            return {}
        return {r.deal_id: r.id for r in self._tx.execute(select(o.c.deal_id, o.c.id).where(o.c.deal_id.in_(ids)))}

    def invoice_tasks(self, order_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
        """The orders' `issue_invoice` tasks: order id -> (task id, status)."""
        t = schema.tasks
        ids = list(order_ids)
        if not ids:
            return {}
        q = select(t.c.order_id, t.c.id, t.c.status).where(t.c.order_id.in_(ids), t.c.kind == INVOICE_TASK)
        return {r.order_id: (r.id, r.status) for r in self._tx.execute(q)}

    def invoice_ids(self, count: int) -> list[int]:
        """`count` fresh invoice ids, ascending."""
        return sorted(allocate_ids(self._tx, schema.invoices, count))

    def task_ids(self, count: int) -> list[int]:
        return sorted(allocate_ids(self._tx, schema.tasks, count))

    def write_drafts(
        self,
        invoices: Sequence[dict[str, Any]],
        links: Sequence[dict[str, int]],
        new_tasks: Sequence[dict[str, Any]],
        reopened_tasks: Sequence[dict[str, Any]],
        billed: Sequence[dict[str, Any]],
        item_updates: Sequence[dict[str, Any]],
    ) -> None:
        """The chunk's drafts in bulk: invoice rows, their orders, the orders' finance tasks, the
        billed items (unique: a (contract, line, period) billed already raises IntegrityError and
        the transaction writes nothing) and the schedule items marked billed."""
        conn = self._tx
        try:
            insert_many(conn, _b, billed)  # first: a conflict costs nothing else
        except IntegrityError as exc:
            raise AlreadyWritten(str(exc.orig)) from None
        insert_many(conn, schema.invoices, invoices)
        insert_many(conn, schema.invoice_orders, links)
        insert_many(conn, schema.tasks, new_tasks)
        update_many(conn, schema.tasks, reopened_tasks)
        update_many(conn, _s, item_updates)
