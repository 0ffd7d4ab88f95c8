"""Cycle time from the deal's close date: `orders.cycle_basis`, and invoiced orders measured again

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

The sales-to-invoice cycle ran from intake, so deals imported and invoiced the same day reported 0
days however long ago they were won. It now runs from the start (UTC) of the CRM's close date where
the deal gives a readable one, else from intake, never below 0; `cycle_basis` says which. Orders
already invoiced are measured again from their stored deal (`data.close_date`), in Python on both
engines so the rule is exactly the code's (a copy below: a migration must not change with the code).
`ix_orders_invoiced` also covers the new column on PostgreSQL, so the window stays an index-only
scan. Only columns are added (no table rebuild on SQLite, so the triggers of 0007 stay).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa
from alembic import op

from handoff.kernel.storage.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 5_000
INCLUDE_BEFORE = ["cycle_seconds", "had_exception", "touched_by_person"]
INCLUDE_AFTER = ["cycle_seconds", "cycle_basis", "had_exception", "touched_by_person"]
Measure = Callable[[object, datetime, datetime], dict[str, object]]


def _close_day(value: object) -> date | None:
    if not isinstance(value, str) or not (text := value.strip()):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def cycle(close_date: object, received_at: datetime, invoiced_at: datetime) -> tuple[int, str]:
    """(seconds, basis) as `handoff.reporting.domain.cycle` computed it when this was written."""
    closed = _close_day(close_date)
    start, basis = (
        (received_at, "intake") if closed is None else (datetime.combine(closed, time.min, UTC), "close_date")
    )
    return max(0, int((invoiced_at - start).total_seconds())), basis


def _reindex(include: list[str]) -> None:
    op.drop_index("ix_orders_invoiced", table_name="orders")
    op.create_index("ix_orders_invoiced", "orders", ["invoiced_at"], postgresql_include=include)


def _measure_again(columns: dict[str, sa.types.TypeEngine[Any]], measure: Measure) -> None:
    """Each invoiced order's `columns`, set to what `measure` makes of its close date, intake and
    invoice time, in batches of BATCH orders."""
    orders = sa.table(
        "orders",
        sa.column("id", sa.Integer),
        sa.column("data", sa.JSON),
        sa.column("received_at", UTCDateTime),
        sa.column("invoiced_at", UTCDateTime),
        *(sa.column(name, type_) for name, type_ in columns.items()),
    )
    invoiced = (
        sa.select(orders.c.id, orders.c.data["close_date"].as_string(), orders.c.received_at, orders.c.invoiced_at)
        .where(orders.c.invoiced_at.is_not(None))
        .order_by(orders.c.id)
    )
    change = (
        orders.update()
        .where(orders.c.id == sa.bindparam("_id"))
        .values({name: sa.bindparam(f"_{name}") for name in columns})
    )
    conn = op.get_bind()
    after = 0
    while rows := conn.execute(invoiced.where(orders.c.id > after).limit(BATCH)).all():
        updates = []
        for row_id, close_date, received_at, invoiced_at in rows:
            values = measure(close_date, received_at, invoiced_at)
            updates.append({"_id": row_id, **{f"_{name}": value for name, value in values.items()}})
        conn.execute(change, updates)
        after = rows[-1][0]


def upgrade() -> None:
    op.add_column("orders", sa.Column("cycle_basis", sa.String(length=16), nullable=True))
    _reindex(INCLUDE_AFTER)

    def from_close_date(close_date: object, received_at: datetime, invoiced_at: datetime) -> dict[str, object]:
        seconds, basis = cycle(close_date, received_at, invoiced_at)
        return {"cycle_seconds": seconds, "cycle_basis": basis}

    _measure_again({"cycle_seconds": sa.BigInteger(), "cycle_basis": sa.String()}, from_close_date)


def downgrade() -> None:
    _reindex(INCLUDE_BEFORE)
    op.drop_column("orders", "cycle_basis")

    def from_intake(close_date: object, received_at: datetime, invoiced_at: datetime) -> dict[str, object]:
        return {"cycle_seconds": max(0, int((invoiced_at - received_at).total_seconds()))}

    _measure_again({"cycle_seconds": sa.BigInteger()}, from_intake)
