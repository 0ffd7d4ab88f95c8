"""The EU distance-sales running totals (`distance_sales_totals`): per selling entity and calendar
year, net in EUR. The only SQL on them. Changed in the issuing transaction only, each row locked
first (on PostgreSQL; SQLite serialises writers), in ascending year order so that two issuers never
wait on each other crosswise. Amounts are added in Python: on SQLite they are stored as text, and
arithmetic in SQL would go through floating point.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from handoff.kernel.money import ZERO
from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import UnitOfWork

_t = schema.distance_sales_totals


class DistanceSalesRepository:
    def __init__(self, on: UnitOfWork | Connection) -> None:
        self._conn = on.conn if isinstance(on, UnitOfWork) else on
        self._postgres = self._conn.dialect.name == "postgresql"

    def totals(self, entity: str, years: Iterable[int]) -> dict[int, Decimal]:
        """The totals of these years (0 for a year without sales), read without a lock."""
        wanted = sorted(set(years))
        q = select(_t.c.year, _t.c.total_eur).where(_t.c.legal_entity == entity, _t.c.year.in_(wanted))
        found = {r.year: r.total_eur for r in self._conn.execute(q)}
        return {year: found.get(year, ZERO) for year in wanted}

    def lock(self, entity: str, years: Iterable[int], now: datetime) -> dict[int, Decimal]:
        """The totals of these years, their rows created if missing and locked until the transaction
        ends: a second issuer of this entity waits here and then sees this one's sale."""
        wanted = sorted(set(years))
        insert = (postgresql.insert if self._postgres else sqlite.insert)(_t)
        for year in wanted:
            row = {"legal_entity": entity, "year": year, "total_eur": ZERO, "updated_at": now}
            self._conn.execute(insert.values(row).on_conflict_do_nothing(index_elements=["legal_entity", "year"]))
        q = select(_t.c.year, _t.c.total_eur).where(_t.c.legal_entity == entity, _t.c.year.in_(wanted))
        if self._postgres:
            q = q.order_by(_t.c.year).with_for_update()
        return {r.year: r.total_eur for r in self._conn.execute(q)}

    def add(self, entity: str, year: int, amount: Decimal, now: datetime) -> Decimal:
        """Add `amount` (negative for a credit note) to a total locked by `lock`; the new total."""
        key = (_t.c.legal_entity == entity, _t.c.year == year)
        current: Decimal = self._conn.execute(select(_t.c.total_eur).where(*key)).scalar_one()
        total = current + amount
        self._conn.execute(update(_t).where(*key).values(total_eur=total, updated_at=now))
        return total
