"""Accounting storage: the only SQL of this package. A payment push needs its invoice's selling
entity (each entity may book to its own tenant). Never commits. (Status written back to CRMs is
`deals.service.crm_status`'s.)
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import UnitOfWork


class AccountingRepository:
    """Reads for accounting pushes, in the caller's unit of work (or on a read-only connection)."""

    def __init__(self, on: UnitOfWork | Connection) -> None:
        self._conn = on.conn if isinstance(on, UnitOfWork) else on

    def seller(self, number: str) -> str:
        """The selling entity's code of the invoice numbered `number` ("" if there is none)."""
        i = schema.invoices
        return str(self._conn.execute(select(i.c.legal_entity).where(i.c.number == number)).scalar() or "")
