"""The sales-to-invoice cycle of an order, pure: where it starts and how long it ran.

It starts when the deal was won: the CRM's close date (a date, so the start of that day in UTC)
where the deal gives a readable one, else when handoff received the deal (intake). It ends when the
invoice is issued and is never negative (a close date after the invoice counts 0). Invoicing keeps
the result on each order it invoices (`orders.cycle_seconds`, `orders.cycle_basis`); reporting
aggregates them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import NamedTuple


class CycleBasis(StrEnum):
    """What an order's cycle is measured from."""

    CLOSE_DATE = "close_date"  # the CRM's close date of the deal
    INTAKE = "intake"  # the deal's arrival in handoff: the source gave no readable close date


class Cycle(NamedTuple):
    seconds: int
    basis: CycleBasis


def close_day(value: object) -> date | None:
    """The close date a deal's `close_date` field holds (`2026-10-23`, or an ISO date-time whose date
    is taken as written), or None when it is empty or not a date."""
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


def cycle(close_date: object, received_at: datetime, invoiced_at: datetime) -> Cycle:
    """The cycle of an order invoiced at `invoiced_at`: from the start (UTC) of its close date when
    the deal gives one, else from `received_at`; whole seconds, at least 0."""
    closed = close_day(close_date)
    if closed is None:
        start, basis = received_at, CycleBasis.INTAKE
    else:
        start, basis = datetime.combine(closed, time.min, UTC), CycleBasis.CLOSE_DATE
    return Cycle(max(0, int((invoiced_at - start).total_seconds())), basis)
