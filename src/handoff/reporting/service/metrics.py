"""Metrics for the dashboard and `GET /api/v1/metrics`: deals by state, exception rate and aging,
sales-to-invoice cycle time (from the CRM's close date where the deal gives one, else from intake,
to `orders.invoiced_at`: `reporting.domain.cycle`; `cycle_basis` counts which), overdue amounts by
currency and the automation rate (invoiced deals that never needed a person's fix).

Aggregated in the database, so the dashboard stays fast with millions of orders. Counts by state
come from `order_state_counts`, which triggers keep as orders change; the flow keeps on each
order whether it ever had an exception, whether a person edited it and its cycle time in seconds,
so nothing is derived row by row at read time. Flow figures (cycle time, automation rate) cover
deals invoiced in the last `WINDOW_DAYS` days. Percentiles and money sums run in PostgreSQL;
SQLite keeps amounts as text (to stay exact), so there they are summed in Python over the few rows
involved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from handoff.context import AppContext
from handoff.deals.domain.orders import OrderState
from handoff.reporting.repository import DAY, ReportingRepository, StateCountsRepository
from handoff.reporting.service.digest import AGE_BUCKETS

STATE_ORDER = [s.value for s in OrderState]
CYCLE_BUCKETS = (
    (0, 1, "under 1 day"),
    (1, 3, "1-3 days"),
    (3, 7, "3-7 days"),
    (7, 14, "7-14 days"),
    (14, 30, "14-30 days"),
    (30, 10**6, "over 30 days"),
)
WINDOW_DAYS = 90


@dataclass
class Metrics:
    deals_by_state: dict[str, int]
    won_deals: int
    deals_with_exceptions: int
    exception_rate: float  # share of won deals that ever entered the exception queue
    open_exceptions: int
    exception_aging: dict[str, int]
    invoiced_deals: int  # in the window
    cycle_time_days_median: float | None
    cycle_time_days_p90: float | None
    cycle_time_buckets: dict[str, int]
    # invoiced deals in the window by what their cycle runs from: {"close_date": n, "intake": m}
    cycle_basis: dict[str, int]
    overdue_by_currency: dict[str, Decimal]
    overdue_invoices: int
    automation_rate: float  # share of invoiced deals never touched by a person or an exception
    window_days: int = WINDOW_DAYS


def compute(ctx: AppContext) -> Metrics:
    now = ctx.clock()
    window_start = now - timedelta(days=WINDOW_DAYS)
    figures = ReportingRepository(ctx.engine).dashboard(now, window_start, AGE_BUCKETS, CYCLE_BUCKETS)
    states, flagged = figures.states
    cycle, overdue = figures.cycle, figures.overdue
    by_state = {s: states.get(s, 0) for s in STATE_ORDER} | {s: n for s, n in states.items() if s not in STATE_ORDER}
    won = sum(n for s, n in by_state.items() if s != OrderState.PIPELINE.value)
    with_exceptions = sum(n for s, n in flagged.items() if s != OrderState.PIPELINE.value)
    invoiced = cycle.invoiced
    return Metrics(
        deals_by_state=by_state,
        won_deals=won,
        deals_with_exceptions=with_exceptions,
        exception_rate=round(with_exceptions / won, 4) if won else 0.0,
        open_exceptions=sum(figures.aging.values()),
        exception_aging=figures.aging,
        invoiced_deals=invoiced,
        cycle_time_days_median=_days(cycle.median_seconds),
        cycle_time_days_p90=_days(cycle.p90_seconds),
        cycle_time_buckets=cycle.buckets,
        cycle_basis=cycle.basis,
        overdue_by_currency=dict(sorted(overdue.by_currency.items())),
        overdue_invoices=overdue.invoices,
        automation_rate=round(cycle.untouched / invoiced, 4) if invoiced else 0.0,
    )


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / DAY, 2)


def compact_state_counts(ctx: AppContext) -> int:
    """Fold the state-count deltas into one row per (state, had_exception); the number of rows
    folded. Safe beside writers and other compactions: the rows deleted are replaced by their
    sum in the same transaction, so the totals never change."""
    with ctx.unit_of_work() as uow:
        folded = uow.repository(StateCountsRepository).fold()
        uow.commit()
    return folded


_recent: dict[int, tuple[float, Metrics]] = {}


def recent(ctx: AppContext, max_age: float = 15.0) -> Metrics:
    """The metrics, reused for `max_age` seconds: a dashboard view draws six charts from one
    computation instead of seven."""
    now = time.monotonic()
    hit = _recent.get(id(ctx))
    if hit is not None and now - hit[0] < max_age:
        return hit[1]
    result = compute(ctx)
    _recent[id(ctx)] = (now, result)
    return result
