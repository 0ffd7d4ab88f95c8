"""Metrics for the dashboard and `GET /api/v1/metrics`: deals by state, exception rate and aging,
sales-to-invoice cycle time (from the CRM's close date where the deal gives one, else from intake,
to `orders.invoiced_at`: `reporting.domain.cycle`; `cycle_basis` counts which), open receivables
(what is open on issued invoices, gross - paid - credited, from invoicing's ledger: in all, overdue,
by days past due, and as days sales outstanding; and the same per selling entity, beside its functional
currency from the configuration) and the automation rate (invoiced deals that never needed a person's fix).

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
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from handoff.context import AppContext
from handoff.deals.domain.orders import OrderState
from handoff.invoicing.service import ledger
from handoff.kernel.money import ZERO
from handoff.kernel.parties import LegalEntity
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
RECEIVABLE_BUCKETS = (
    (0, 0, "not due"),
    (1, 30, "1-30 days"),
    (31, 60, "31-60 days"),
    (61, 90, "61-90 days"),
    (91, 10**6, "over 90 days"),
)


@dataclass
class EntityFigures:
    """One selling entity's receivables: its functional currency (its configured `currency`; None for
    an entity no longer configured) and, by invoice currency, what is open and overdue (gross - paid -
    credited) and its days sales outstanding over the window."""

    entity: str
    name: str
    functional_currency: str | None
    open_receivables_by_currency: dict[str, Decimal]
    open_invoices: int
    overdue_by_currency: dict[str, Decimal]
    overdue_invoices: int
    dso_days: dict[str, float | None]


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
    overdue_by_currency: dict[str, Decimal]  # open amount (gross - paid - credited) past due
    overdue_invoices: int
    automation_rate: float  # share of invoiced deals never touched by a person or an exception
    window_days: int = WINDOW_DAYS
    # open receivables: issued invoices' open amounts by currency, and by days past due
    open_receivables_by_currency: dict[str, Decimal] = field(default_factory=dict)
    receivables_aging: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    # days sales outstanding: open receivables / invoiced (net of credit notes) in the window x its days
    dso_days: dict[str, float | None] = field(default_factory=dict)
    # the receivables per selling entity: every configured one (in configuration order), then any other invoiced
    by_entity: list[EntityFigures] = field(default_factory=list)


def compute(ctx: AppContext) -> Metrics:
    now = ctx.clock()
    window_start = now - timedelta(days=WINDOW_DAYS)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the money figures beside the deal figures
        money = pool.submit(
            lambda: (
                ledger.receivables(ctx, now.date(), RECEIVABLE_BUCKETS),
                ledger.invoiced_since(ctx, window_start.date()),
                ledger.receivables_by_entity(ctx, now.date(), window_start.date()),
            )
        )
        figures = ReportingRepository(ctx.engine).dashboard(now, window_start, AGE_BUCKETS, CYCLE_BUCKETS)
        receivables, invoiced_money, per_entity = money.result()
    states, flagged = figures.states
    cycle = figures.cycle
    by_state = {s: states.get(s, 0) for s in STATE_ORDER} | {s: n for s, n in states.items() if s not in STATE_ORDER}
    won = sum(n for s, n in by_state.items() if s != OrderState.PIPELINE.value)
    with_exceptions = sum(n for s, n in flagged.items() if s != OrderState.PIPELINE.value)
    invoiced, sold = cycle.invoiced, invoiced_money
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
        overdue_by_currency={c: r.overdue_amount for c, r in sorted(receivables.items()) if r.overdue_invoices},
        overdue_invoices=sum(r.overdue_invoices for r in receivables.values()),
        automation_rate=round(cycle.untouched / invoiced, 4) if invoiced else 0.0,
        open_receivables_by_currency={c: r.open_amount for c, r in sorted(receivables.items())},
        receivables_aging={c: r.aging for c, r in sorted(receivables.items())},
        dso_days={c: _dso(r.open_amount, sold.get(c, ZERO)) for c, r in sorted(receivables.items())},
        by_entity=by_entity(ctx.config.entities, per_entity),
    )


def by_entity(entities: Mapping[str, LegalEntity], rows: list[ledger.EntityReceivables]) -> list[EntityFigures]:
    """The ledger's receivables by (entity, currency) as one figure per selling entity: each configured
    entity (nothing open: empty), then any other entity with invoices, by code. A currency in which the
    entity has nothing open but invoiced in the window shows with 0 open and a DSO of 0."""
    grouped: dict[str, list[ledger.EntityReceivables]] = {code: [] for code in entities}
    for row in rows:
        grouped.setdefault(row.legal_entity, []).append(row)
    out = []
    for code in [*entities, *sorted(set(grouped) - set(entities))]:
        mine = sorted(grouped[code], key=lambda r: r.currency)
        entity = entities.get(code)
        out.append(
            EntityFigures(
                entity=code,
                name=entity.name if entity else code,
                functional_currency=entity.currency if entity else None,
                open_receivables_by_currency={r.currency: r.open_amount for r in mine},
                open_invoices=sum(r.open_invoices for r in mine),
                overdue_by_currency={r.currency: r.overdue_amount for r in mine if r.overdue_invoices},
                overdue_invoices=sum(r.overdue_invoices for r in mine),
                dso_days={r.currency: _dso(r.open_amount, r.invoiced) for r in mine},
            )
        )
    return out


def _dso(open_amount: Decimal, sold: Decimal) -> float | None:
    """Days sales outstanding over the window; None when nothing was invoiced in it."""
    return round(float(open_amount / sold) * WINDOW_DAYS, 1) if sold > 0 else None


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
