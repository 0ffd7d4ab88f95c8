"""The deal-event inbox: events stored as received, then claimed oldest first to be applied.

Storing skips a (source, event id) that is there already, so a redelivered webhook or a CRM page
read twice is harmless. Claiming locks the rows on PostgreSQL (other workers skip them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Engine, func, select

from handoff.deals.domain.orders import DealEvent
from handoff.deals.repository import deal_from_json
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.unit_of_work import UnitOfWork


class Inbox:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def store_new(self, events: Sequence[DealEvent], now: datetime) -> list[DealEvent]:
        """Store as pending the events not stored yet (each source and event id once in `events`); returns them."""
        i = schema.inbox
        conn = self._uow.conn
        q = select(i.c.source, i.c.event_id).where(i.c.event_id.in_([e.event_id for e in events]))
        known = set(conn.execute(q))
        fresh = [e for e in events if (e.source, e.event_id) not in known]
        rows = [
            {
                "source": e.source,
                "event_id": e.event_id,
                "deal_id": e.deal.deal_id,
                "occurred_at": e.occurred_at,
                "received_at": now,
                "payload": e.deal.as_dict(),
                "status": "pending",
            }
            for e in fresh
        ]
        insert_many(conn, i, rows, ["source", "event_id"])
        return fresh

    def claim(self, size: int, known: Mapping[tuple[str, str], DealEvent]) -> dict[int, DealEvent]:
        """Up to `size` pending events in inbox id order, by inbox id. `known`: events this process
        has in memory already, so their stored payload need not be read back and decoded."""
        i = schema.inbox
        conn = self._uow.conn
        q = select(*(c for c in i.c if c.name != "payload")).where(i.c.status == "pending").order_by(i.c.id).limit(size)
        if self._uow.is_postgres:
            q = q.with_for_update(skip_locked=True)
        rows = conn.execute(q).all()
        deals = {r.id: e.deal for r in rows if (e := known.get((r.source, r.event_id))) is not None}
        missing = [r.id for r in rows if r.id not in deals]
        if missing:
            for row_id, payload in conn.execute(select(i.c.id, i.c.payload).where(i.c.id.in_(missing))):
                deals[row_id] = deal_from_json(payload)
        return {r.id: DealEvent(r.source, r.event_id, r.occurred_at, deals[r.id]) for r in rows}


def pending_count(engine: Engine) -> int:
    with engine.connect() as conn:
        q = select(func.count()).select_from(schema.inbox).where(schema.inbox.c.status == "pending")
        return int(conn.execute(q).scalar_one())
