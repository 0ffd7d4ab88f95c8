"""The times that order a deal's versions: its inbox events' `occurred_at` and the applied version's
`orders.version_at`. Re-dating them is how a version stamped in the future (which made every later
update of its deal stale) is repaired; rows are locked on PostgreSQL until the transaction ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from handoff.deals.repository.inbox import InboxStatus
from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class DatedEvent:
    id: int
    event_id: str
    status: InboxStatus
    occurred_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class AppliedVersion:
    at: datetime
    event_id: str


class Versions:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def _locked(self, q: Any) -> Any:
        return q.with_for_update() if self._uow.is_postgres else q

    def applied(self, deal_id: str) -> AppliedVersion | None:
        o = schema.orders
        q = self._locked(select(o.c.version_at, o.c.version_event).where(o.c.deal_id == deal_id))
        row = self._uow.conn.execute(q).one_or_none()
        return None if row is None else AppliedVersion(row.version_at, row.version_event)

    def redate_applied(self, deal_id: str, at: datetime) -> None:
        o = schema.orders
        self._uow.conn.execute(update(o).where(o.c.deal_id == deal_id).values(version_at=at))

    def has_events(self, deal_id: str) -> bool:
        i = schema.inbox
        q = select(func.count()).select_from(i).where(i.c.deal_id == deal_id)
        return bool(self._uow.conn.execute(q).scalar_one())

    def events_after(self, deal_id: str, after: datetime, status: InboxStatus | None = None) -> list[DatedEvent]:
        """The deal's inbox events dated after `after` (of one status), in inbox order."""
        i = schema.inbox
        q = select(i.c.id, i.c.event_id, i.c.status, i.c.occurred_at, i.c.received_at).where(
            i.c.deal_id == deal_id, i.c.occurred_at > after
        )
        if status is not None:
            q = q.where(i.c.status == status.value)
        rows = self._uow.conn.execute(self._locked(q.order_by(i.c.id)))
        return [DatedEvent(r.id, r.event_id, InboxStatus(r.status), r.occurred_at, r.received_at) for r in rows]

    def redate_event(self, inbox_id: int, at: datetime) -> None:
        i = schema.inbox
        self._uow.conn.execute(update(i).where(i.c.id == inbox_id).values(occurred_at=at))

    def requeue_stale(self, ids: Sequence[int]) -> None:
        """Put these stale events back to pending, to be applied again."""
        i = schema.inbox
        if ids:
            self._uow.conn.execute(
                update(i)
                .where(i.c.id.in_(list(ids)), i.c.status == InboxStatus.STALE.value)
                .values(status=InboxStatus.PENDING.value, processed_at=None, error=None)
            )
