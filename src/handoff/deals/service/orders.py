"""Order use cases for people: fix billing fields, list the exception queue, read an order."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.domain.orders import DEAL_FIELDS, DealEvent
from handoff.deals.repository import deal_from_json
from handoff.deals.service.intake import USER_SOURCE, ProcessReport, ingest
from handoff.kernel.storage import schema

# Fields a person may correct; identity (deal_id) and CRM-owned facts stay with the source.
EDITABLE = frozenset(DEAL_FIELDS) - {"deal_id", "stage", "close_date", "amount", "currency"}


class OrderError(Exception):
    pass


def update_fields(ctx: AppContext, deal_id: str, changes: Mapping[str, str], actor: str) -> ProcessReport:
    """A person's fix is a new version of the deal, applied through the same flow as any event:
    it is re-checked at once and moves on by itself when it becomes ready."""
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise OrderError(f"field(s) {', '.join(unknown)} cannot be edited here")
    with ctx.engine.connect() as conn:
        row = conn.execute(select(schema.orders.c.data, schema.orders.c.version_at).where(
            schema.orders.c.deal_id == deal_id)).one_or_none()  # fmt: skip
    if row is None:
        raise OrderError(f"no deal {deal_id}")
    deal = deal_from_json(row.data).with_fields(changes)
    # A person edits what they see: their version is newer than it even if clocks disagree.
    at = max(ctx.clock(), row.version_at + timedelta(microseconds=1))
    event = DealEvent(f"{USER_SOURCE}{actor}", f"edit-{uuid.uuid4()}", at, deal)
    return ingest(ctx, [event])[1]


def exception_queue(ctx: AppContext, owner: str | None = None) -> list[dict[str, Any]]:
    ex, o = schema.exceptions, schema.orders
    q = (select(ex.c.deal_id, ex.c.owner, ex.c.problems, ex.c.opened_at, o.c.customer_name, o.c.amount, o.c.currency)
         .join(o, o.c.id == ex.c.order_id).where(ex.c.status == "open").order_by(ex.c.opened_at, ex.c.id))  # fmt: skip
    if owner:
        q = q.where(ex.c.owner == owner)
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
