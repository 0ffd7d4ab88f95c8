"""Change orders storage: the change orders applied to contracts, the schedule rewrites they make,
and the state of a contract's terms review (`contracts.review_state`).

A change order is stored once per contract and key (`change_orders`, unique (contract_id, key));
its version goes into `contract_versions` and its schedule into `schedule_items` (pending items
superseded or rewritten in place under their unique (contract, line, period) key, new items and
adjustments inserted). The credit-note helper reads which issued invoice billed a period
(`billed_items` joined to `invoices`, read-only). Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from handoff.contracts.repository.contracts import AlreadyWritten
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many, update_many
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine
from handoff.kernel.storage.unit_of_work import UnitOfWork

APPLIED = "applied"
SUPERSEDED = "superseded"

_co, _c, _v, _s, _b = (
    schema.change_orders,
    schema.contracts,
    schema.contract_versions,
    schema.schedule_items,
    schema.billed_items,
)


@dataclass(frozen=True, slots=True)
class ChangeOrderRow:
    contract_id: str
    key: str
    effective: date
    content: dict[str, Any]
    status: str
    version: int
    reason: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BilledBy:
    """The invoice that billed a (line, period) of a contract."""

    line_key: str
    period_key: str
    invoice_id: int
    number: str | None
    status: str
    kind: str
    issue_date: date | None


def _row(r: Any) -> ChangeOrderRow:
    return ChangeOrderRow(
        r.contract_id,
        r.key,
        r.effective,
        dict(r.content),
        r.status,
        r.version,
        r.reason,
        r.created_by,
        r.created_at,
    )


class ChangeOrderRepository(OnUnitOfWorkOrEngine):
    """Change orders on a unit of work (reads and writes) or on an engine (reads only)."""

    def __init__(self, on: UnitOfWork | Engine) -> None:
        super().__init__(on)

    def get(self, contract_id: str, key: str) -> ChangeOrderRow | None:
        q = select(_co).where(_co.c.contract_id == contract_id, _co.c.key == key)
        with self._connect() as conn:
            r = conn.execute(q).one_or_none()
        return None if r is None else _row(r)

    def of_contract(self, contract_id: str) -> list[ChangeOrderRow]:
        q = select(_co).where(_co.c.contract_id == contract_id).order_by(_co.c.version)
        with self._connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def planned_through(self, contract_id: str) -> date | None:
        with self._connect() as conn:
            found: date | None = conn.execute(
                select(_c.c.planned_through).where(_c.c.contract_id == contract_id)
            ).scalar_one_or_none()
        return found

    def review_state(self, contract_id: str) -> str | None:
        with self._connect() as conn:
            found: str | None = conn.execute(
                select(_c.c.review_state).where(_c.c.contract_id == contract_id)
            ).scalar_one_or_none()
        return found

    # -- writes ----------------------------------------------------------------------------------

    def add(
        self,
        order: dict[str, Any],
        version: dict[str, Any],
        supersede: Sequence[int],
        rewrite: Sequence[dict[str, Any]],
        insert: Sequence[dict[str, Any]],
        header: dict[str, Any],
    ) -> None:
        """Store a change order and what it makes: the change order row (first: a duplicate key
        raises AlreadyWritten before anything else), the version, the pending items superseded,
        those rewritten in place (`_id` and their new columns), the new items and adjustments,
        and the contract row's new `header` columns."""
        conn = self._tx
        try:
            insert_many(conn, _co, [order])
        except IntegrityError as exc:
            raise AlreadyWritten(str(exc.orig)) from None
        try:
            insert_many(conn, _v, [version])
        except IntegrityError as exc:  # another change order made this version meanwhile
            raise AlreadyWritten(str(exc.orig)) from None
        if supersede:
            conn.execute(update(_s).where(_s.c.id.in_(list(supersede))).values(status=SUPERSEDED))
        update_many(conn, _s, list(rewrite))
        insert_many(conn, _s, list(insert))
        conn.execute(update(_c).where(_c.c.contract_id == order["contract_id"]).values(**header))

    def set_review_state(self, contract_id: str, state: str, now: datetime) -> None:
        self._tx.execute(update(_c).where(_c.c.contract_id == contract_id).values(review_state=state, updated_at=now))

    # -- what billed a period ---------------------------------------------------------------------

    def billed_by(self, contract_id: str, keys: Iterable[tuple[str, str]]) -> list[BilledBy]:
        """The invoices that billed these (line, period) keys of the contract (read-only from
        `invoices`), newest invoice first."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return []
        inv = schema.invoices
        q = (
            select(
                _b.c.line_key,
                _b.c.period_key,
                _b.c.invoice_id,
                inv.c.number,
                inv.c.status,
                inv.c.kind,
                inv.c.issue_date,
            )
            .join(inv, inv.c.id == _b.c.invoice_id)
            .where(_b.c.contract_id == contract_id, tuple_(_b.c.line_key, _b.c.period_key).in_(wanted))
            .order_by(_b.c.invoice_id.desc())
        )
        with self._connect() as conn:
            return [
                BilledBy(r.line_key, r.period_key, r.invoice_id, r.number, r.status, r.kind, r.issue_date)
                for r in conn.execute(q)
            ]
