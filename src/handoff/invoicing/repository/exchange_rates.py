"""The stored ECB reference rates: the only SQL on `exchange_rates`. Nothing here commits.

Rows are EUR-based (`base` 'EUR', 1 EUR = rate currency on rate_date), one per currency and day.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select

from handoff.invoicing.domain.exchange_rates import EUR, ReferenceRate
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many, upsert_many
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine

_x = schema.exchange_rates


class ExchangeRateRepository(OnUnitOfWorkOrEngine):
    def between(self, first: date, last: date, currencies: tuple[str, ...] = ()) -> list[ReferenceRate]:
        """The stored rates of the days `first`..`last` (only of `currencies`, when given)."""
        q = select(_x.c.currency, _x.c.rate_date, _x.c.rate).where(
            _x.c.base == EUR, _x.c.rate_date >= first, _x.c.rate_date <= last
        )
        if currencies:
            q = q.where(_x.c.currency.in_(currencies))
        with self._connect() as conn:
            rows = conn.execute(q.order_by(_x.c.rate_date, _x.c.currency)).all()
        return [ReferenceRate(r.currency, r.rate_date, r.rate) for r in rows]

    def latest_day(self, on_or_before: date) -> date | None:
        """The most recent day with stored rates on or before `on_or_before`."""
        q = select(func.max(_x.c.rate_date)).where(_x.c.base == EUR, _x.c.rate_date <= on_or_before)
        with self._connect() as conn:
            found: date | None = conn.execute(q).scalar_one_or_none()
        return found

    def add(self, rates: list[ReferenceRate], source: str, at: datetime) -> None:
        """Store new rates (their days must not be stored for their currencies yet)."""
        insert_many(self._tx, _x, [_row(r, source, at) for r in rates])

    def replace(self, rates: list[ReferenceRate], source: str, at: datetime) -> None:
        """Store `rates` over the stored rates of the same currency and day."""
        upsert_many(
            self._tx,
            _x,
            [_row(r, source, at) for r in rates],
            key=("base", "currency", "rate_date"),
            columns=("rate", "source", "imported_at"),
        )


def _row(r: ReferenceRate, source: str, at: datetime) -> dict[str, object]:
    return {
        "base": EUR,
        "currency": r.currency,
        "rate": r.rate,
        "rate_date": r.rate_date,
        "source": source,
        "imported_at": at,
    }
