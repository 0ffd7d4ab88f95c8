"""Status write-back storage: the last status queued for each CRM deal (`crm_status`), the CRM
deals an invoice bills (its orders, with their source and deal data), and, read-only, the dunning
facts of an invoice (disputed or not, the highest reminder level sent) from collections' tables,
read here until collections offers them as a service. Never commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select, update

from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.unit_of_work import UnitOfWork


class BilledDeal(NamedTuple):
    """An order an invoice bills: its deal id, where the deal came from and its data as received."""

    deal_id: str
    source: str
    data: Mapping[str, Any]


class LastStatus(NamedTuple):
    version: int  # 0: nothing queued yet
    digest: str


class CrmStatusRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def billed_deals(self, invoice_id: int) -> list[BilledDeal]:
        o, io = schema.orders, schema.invoice_orders
        q = (
            select(o.c.deal_id, o.c.source, o.c.data)
            .join(io, io.c.order_id == o.c.id)
            .where(io.c.invoice_id == invoice_id)
            .order_by(o.c.id)
        )
        return [BilledDeal(r.deal_id, r.source, r.data or {}) for r in self._uow.conn.execute(q)]

    def dunning_facts(self, invoice_id: int) -> tuple[bool, int]:
        """(disputed now, highest reminder level sent; 0 for none)."""
        d, r = schema.invoice_disputes, schema.dunning_reminders
        conn = self._uow.conn
        disputed = conn.execute(select(d.c.invoice_id).where(d.c.invoice_id == invoice_id)).first() is not None
        level = conn.execute(select(func.max(r.c.level)).where(r.c.invoice_id == invoice_id)).scalar()
        return disputed, int(level or 0)

    def last(self, target: str, crm_deal_id: str, now: datetime) -> LastStatus:
        """What was last queued for this CRM deal; its row is locked (PostgreSQL) until the
        transaction ends, so two changes to one deal queue their notices one after the other."""
        s = schema.crm_status
        row = {
            "target": target,
            "crm_deal_id": crm_deal_id,
            "version": 0,
            "digest": "",
            "invoice_number": "",
            "facts": {},
            "queued_at": now,
        }
        insert_many(self._uow.conn, s, [row], ignore_conflicts_on=("target", "crm_deal_id"))
        q = select(s.c.version, s.c.digest).where(s.c.target == target, s.c.crm_deal_id == crm_deal_id)
        found = self._uow.conn.execute(q.with_for_update() if self._uow.is_postgres else q).one()
        return LastStatus(found.version, found.digest)

    def record(
        self,
        target: str,
        crm_deal_id: str,
        version: int,
        digest: str,
        invoice_number: str,
        facts: Mapping[str, Any],
        now: datetime,
    ) -> None:
        s = schema.crm_status
        self._uow.conn.execute(
            update(s)
            .where(s.c.target == target, s.c.crm_deal_id == crm_deal_id)
            .values(version=version, digest=digest, invoice_number=invoice_number, facts=dict(facts), queued_at=now)
        )
