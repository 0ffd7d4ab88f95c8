"""Metrics for the dashboard and `GET /api/v1/metrics`: deals by state, exception rate and aging,
order-to-invoice cycle time (`orders.received_at` → `orders.invoiced_at`), overdue amounts by
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, Connection, Float, delete, func, insert, select
from sqlalchemy.dialects import postgresql

from handoff.context import AppContext
from handoff.deals.domain.orders import OrderState
from handoff.kernel.storage import schema
from handoff.reporting.service.digest import AGE_BUCKETS

STATE_ORDER = [s.value for s in OrderState]
CYCLE_BUCKETS = ((0, 1, "under 1 day"), (1, 3, "1-3 days"), (3, 7, "3-7 days"), (7, 14, "7-14 days"),
                 (14, 30, "14-30 days"), (30, 10**6, "over 30 days"))  # fmt: skip
WINDOW_DAYS = 90
DAY = 86400


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
    overdue_by_currency: dict[str, Decimal]
    overdue_invoices: int
    automation_rate: float  # share of invoiced deals never touched by a person or an exception
    window_days: int = WINDOW_DAYS


def _interpolated(ordered: list[int], q: float) -> float:
    """The q-quantile of sorted values, interpolated between neighbours (as PostgreSQL's
    percentile_cont), so both engines report the same figure."""
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _aging(conn: Connection, now: datetime) -> dict[str, int]:
    """Open exceptions by age in whole days: age in [lo, hi] is opened_at in (now-(hi+1)d, now-lo d]."""
    ex = schema.exceptions
    columns = [func.count().filter(ex.c.opened_at <= now - timedelta(days=lo),
                                   ex.c.opened_at > now - timedelta(days=min(hi, 36500) + 1))
               for lo, hi, _ in AGE_BUCKETS]  # fmt: skip
    counts = conn.execute(select(*columns).where(ex.c.status == "open")).one()
    return {label: int(n) for (*_, label), n in zip(AGE_BUCKETS, counts, strict=True)}


def _cycle(conn: Connection, since: datetime) -> tuple[int, int, float | None, float | None, dict[str, int]]:
    """(invoiced, untouched, median days, p90 days, buckets) for deals invoiced since `since`.
    Reads `cycle_seconds`, kept on each order when it is invoiced: on PostgreSQL one index-only
    scan of the window (time arithmetic per row would cost more than the scan)."""
    o = schema.orders
    seconds = o.c.cycle_seconds
    window = o.c.invoiced_at >= since
    buckets = [func.count().filter(seconds >= lo * DAY, seconds < hi * DAY) for lo, hi, _ in CYCLE_BUCKETS]
    columns = [func.count(), func.count().filter(~o.c.had_exception, ~o.c.touched_by_person), *buckets]
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        columns.append(func.percentile_cont(postgresql.array([0.5, 0.9]), type_=ARRAY(Float))
                       .within_group(seconds))  # fmt: skip
    count, clean, *rest = conn.execute(select(*columns).where(window)).one()
    spread = {label: int(n) for (*_, label), n in zip(CYCLE_BUCKETS, rest, strict=False)}
    if not count:
        return 0, 0, None, None, spread
    if postgres:
        p50, p90 = rest[-1]
    else:  # SQLite has no percentile function: the window's values, sorted by the database
        ordered = list(conn.execute(select(seconds).where(window).order_by(seconds)).scalars())
        p50, p90 = _interpolated(ordered, 0.5), _interpolated(ordered, 0.9)
    return count, clean, p50 / DAY, p90 / DAY, spread


def _states(conn: Connection) -> tuple[dict[str, int], dict[str, int]]:
    """Orders by state, and those that ever had an exception by state, from the counts the
    database keeps (`order_state_counts`): a few rows, however many orders there are."""
    c = schema.order_state_counts
    counts: dict[str, int] = {}
    flagged: dict[str, int] = {}
    for state, had_exception, n in conn.execute(select(c.c.state, c.c.had_exception, func.sum(c.c.n))
                                                .group_by(c.c.state, c.c.had_exception)):  # fmt: skip
        counts[state] = counts.get(state, 0) + int(n)
        if had_exception:
            flagged[state] = flagged.get(state, 0) + int(n)
    return {s: n for s, n in counts.items() if n}, flagged


def compact_state_counts(ctx: AppContext) -> int:
    """Fold the state-count deltas into one row per (state, had_exception); the number of rows
    folded. Safe beside writers and other compactions: the rows deleted are replaced by their
    sum in the same transaction, so the totals never change."""
    c = schema.order_state_counts
    with ctx.unit_of_work() as uow:
        rows = uow.conn.execute(delete(c).returning(c.c.state, c.c.had_exception, c.c.n)).all()
        sums: dict[tuple[str, bool], int] = {}
        for state, had_exception, n in rows:
            sums[(state, bool(had_exception))] = sums.get((state, bool(had_exception)), 0) + n
        folded = [{"state": s, "had_exception": h, "n": n} for (s, h), n in sorted(sums.items()) if n]
        if folded:
            uow.conn.execute(insert(c), folded)
        uow.commit()
    return len(rows)


def _overdue(conn: Connection, today: Any) -> tuple[int, dict[str, Decimal]]:
    inv = schema.invoices
    late = (inv.c.status == "issued") & (inv.c.payment_state != "paid") & (inv.c.due_date < today)
    if conn.dialect.name == "postgresql":
        rows = conn.execute(select(inv.c.currency, func.count(), func.sum(inv.c.gross_amount - inv.c.paid_amount))
                            .where(late).group_by(inv.c.currency)).all()  # fmt: skip
        return sum(n for _, n, _ in rows), {c: Decimal(v).quantize(Decimal("0.01")) for c, _, v in rows}
    totals: dict[str, Decimal] = {}
    count = 0
    for r in conn.execute(select(inv.c.currency, inv.c.gross_amount, inv.c.paid_amount).where(late)):
        count += 1
        totals[r.currency] = totals.get(r.currency, Decimal("0")) + (r.gross_amount - r.paid_amount)
    return count, totals


def compute(ctx: AppContext) -> Metrics:
    now = ctx.clock()
    parts: dict[str, Callable[[Connection], Any]] = {
        "states": _states,
        "aging": lambda conn: _aging(conn, now),
        "cycle": lambda conn: _cycle(conn, now - timedelta(days=WINDOW_DAYS)),
        "overdue": lambda conn: _overdue(conn, now.date()),
    }
    results = _run_all(ctx, parts)
    states, flagged = results["states"]
    aging = results["aging"]
    invoiced, clean, p50, p90, buckets = results["cycle"]
    overdue_count, overdue = results["overdue"]
    by_state = {s: states.get(s, 0) for s in STATE_ORDER} | {s: n for s, n in states.items() if s not in STATE_ORDER}
    won = sum(n for s, n in by_state.items() if s != OrderState.PIPELINE.value)
    with_exceptions = sum(n for s, n in flagged.items() if s != OrderState.PIPELINE.value)
    return Metrics(
        deals_by_state=by_state, won_deals=won, deals_with_exceptions=with_exceptions,
        exception_rate=round(with_exceptions / won, 4) if won else 0.0, open_exceptions=sum(aging.values()),
        exception_aging=aging, invoiced_deals=invoiced,
        cycle_time_days_median=None if p50 is None else round(p50, 2),
        cycle_time_days_p90=None if p90 is None else round(p90, 2), cycle_time_buckets=buckets,
        overdue_by_currency=dict(sorted(overdue.items())), overdue_invoices=overdue_count,
        automation_rate=round(clean / invoiced, 4) if invoiced else 0.0)  # fmt: skip


def _run_all(ctx: AppContext, parts: dict[str, Callable[[Connection], Any]]) -> dict[str, Any]:
    """Each part on its own connection. On PostgreSQL they run at once (the server works on them in
    parallel, so the dashboard costs its slowest query, not the sum); SQLite runs them in turn."""

    def one(part: Callable[[Connection], Any]) -> Any:
        with ctx.engine.connect() as conn:
            return part(conn)

    if ctx.engine.dialect.name != "postgresql":
        return {name: one(part) for name, part in parts.items()}
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        futures = {name: pool.submit(one, part) for name, part in parts.items()}
        return {name: future.result() for name, future in futures.items()}


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
