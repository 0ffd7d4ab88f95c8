"""Accounting storage: the only SQL of this package. Write-back to a CRM needs each invoiced deal's
id in that CRM, which the deal's stored data carries (set by that CRM's mapping); a payment push
needs its invoice's selling entity (each entity may book to its own tenant). Never commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import UnitOfWork


class DealRecord(NamedTuple):
    """An order's deal id and the deal data as received (with the CRMs' own ids for it)."""

    deal_id: str
    data: Mapping[str, Any]


class AccountingRepository:
    """Reads for accounting pushes, in the caller's unit of work (or on a read-only connection)."""

    def __init__(self, on: UnitOfWork | Connection) -> None:
        self._conn = on.conn if isinstance(on, UnitOfWork) else on

    def deals(self, order_ids: Sequence[int]) -> list[DealRecord]:
        """The deals of the orders `order_ids` (in no particular order)."""
        o = schema.orders
        return [
            DealRecord(r.deal_id, r.data or {})
            for r in self._conn.execute(select(o.c.deal_id, o.c.data).where(o.c.id.in_(order_ids)))
        ]

    def seller(self, number: str) -> str:
        """The selling entity's code of the invoice numbered `number` ("" if there is none)."""
        i = schema.invoices
        return str(self._conn.execute(select(i.c.legal_entity).where(i.c.number == number)).scalar() or "")
