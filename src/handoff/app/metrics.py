"""Metrics for the dashboard and `GET /api/v1/metrics`: deals by state, exception rate and aging,
order-to-invoice cycle time (`orders.received_at` → `orders.invoiced_at`), overdue amounts by
currency and the automation rate (invoiced deals that never needed a person's fix).

Figures are computed in Python from a few narrow queries, so SQLite and PostgreSQL agree exactly
(no dialect-specific date arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from statistics import median

from sqlalchemy import func, select

from handoff.app.context import AppContext
from handoff.app.digest import AGE_BUCKETS
from handoff.domain.orders import OrderState
from handoff.store import schema

STATE_ORDER = [s.value for s in OrderState]
CYCLE_BUCKETS = ((0, 1, "under 1 day"), (1, 3, "1-3 days"), (3, 7, "3-7 days"), (7, 14, "7-14 days"),
                 (14, 30, "14-30 days"), (30, 10**6, "over 30 days"))  # fmt: skip


@dataclass
class Metrics:
    deals_by_state: dict[str, int]
    won_deals: int
    deals_with_exceptions: int
    exception_rate: float  # share of won deals that ever entered the exception queue
    open_exceptions: int
    exception_aging: dict[str, int]
    invoiced_deals: int
    cycle_time_days_median: float | None
    cycle_time_days_p90: float | None
    cycle_time_buckets: dict[str, int]
    overdue_by_currency: dict[str, Decimal]
    overdue_invoices: int
    automation_rate: float  # share of invoiced deals never touched by a person or an exception


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


def compute(ctx: AppContext) -> Metrics:
    now = ctx.clock()
    o, ex, inv, inbox = schema.orders, schema.exceptions, schema.invoices, schema.inbox
    with ctx.engine.connect() as conn:
        states = dict(conn.execute(select(o.c.state, func.count()).group_by(o.c.state)).all())
        with_exceptions = set(conn.execute(select(ex.c.deal_id).distinct()).scalars())
        opened = list(conn.execute(select(ex.c.opened_at).where(ex.c.status == "open")).scalars())
        cycles = conn.execute(select(o.c.deal_id, o.c.received_at, o.c.invoiced_at)
                              .where(o.c.invoiced_at.is_not(None))).all()  # fmt: skip
        edited = set(conn.execute(select(inbox.c.deal_id).distinct().where(inbox.c.source.like("user:%"))).scalars())
        overdue_rows = conn.execute(select(inv.c.currency, inv.c.gross_amount, inv.c.paid_amount).where(
            inv.c.status == "issued", inv.c.payment_state != "paid", inv.c.due_date < now.date())).all()  # fmt: skip
    by_state = {s: states.get(s, 0) for s in STATE_ORDER} | {s: n for s, n in states.items() if s not in STATE_ORDER}
    won = sum(n for s, n in by_state.items() if s != OrderState.PIPELINE.value)
    aging = {label: 0 for *_, label in AGE_BUCKETS}
    for at in opened:
        age = (now - at).days
        aging[next(lbl for lo, hi, lbl in AGE_BUCKETS if lo <= age <= hi)] += 1
    days = [max(0.0, (r.invoiced_at - r.received_at).total_seconds() / 86400) for r in cycles]
    buckets = {label: 0 for *_, label in CYCLE_BUCKETS}
    for d in days:
        buckets[next(lbl for lo, hi, lbl in CYCLE_BUCKETS if lo <= d < hi)] += 1
    overdue: dict[str, Decimal] = {}
    for r in overdue_rows:
        overdue[r.currency] = overdue.get(r.currency, Decimal("0")) + (r.gross_amount - r.paid_amount)
    untouched = sum(1 for r in cycles if r.deal_id not in with_exceptions and r.deal_id not in edited)
    return Metrics(
        deals_by_state=by_state, won_deals=won, deals_with_exceptions=len(with_exceptions),
        exception_rate=round(len(with_exceptions) / won, 4) if won else 0.0, open_exceptions=len(opened),
        exception_aging=aging, invoiced_deals=len(days),
        cycle_time_days_median=round(median(days), 2) if days else None,
        cycle_time_days_p90=round(_percentile(days, 0.9), 2) if days else None, cycle_time_buckets=buckets,
        overdue_by_currency=dict(sorted(overdue.items())), overdue_invoices=len(overdue_rows),
        automation_rate=round(untouched / len(days), 4) if days else 0.0)  # fmt: skip
