"""The demo's cash forecast: the next 13 weeks per currency, then the backtest over the demo's
history (`demo.history`): the forecast made at each of the last weekly cut-offs with only what was
known that morning, compared with the cash received in each week after it."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console
from rich.table import Table

from handoff.context import AppContext
from handoff.reporting.forecast import NONE, Source
from handoff.reporting.service.forecast import Backtest, Forecast, cash_forecast, forecast_backtest

HORIZONS = (1, 2, 4, 8, 13)  # weeks ahead shown (the backtest measures all 13)
SPANS = ((1, 4), (5, 8), (9, 13))  # the 13 weeks in three columns


def run_forecast_demo(ctx: AppContext, out: Console) -> tuple[Forecast, Backtest]:
    """Print today's forecast and the backtest's error at 1, 2, 4, 8 and 13 weeks ahead per currency;
    return both (the demo's test reads them)."""
    f = cash_forecast(ctx)
    late = "none paid yet" if f.portfolio_days_late is None else f"{f.portfolio_days_late} days"
    out.print(
        f"cash forecast from {f.as_of}, weeks from Monday {f.first_week}: each open invoice spread over the days "
        f"its customer has paid on, due date + each days late of the last year not yet outlived "
        f"({len(f.customer_days_late)} customers with their own, the rest the portfolio's: median {late}); "
        f"disputed invoices and those past due over {f.doubtful_after_days} days apart; contract schedules, "
        f"milestones x {f.milestone_likelihood}, the pipeline x its stage probability",
        highlight=False,
    )
    table = Table(
        "currency",
        "disputed",
        "doubtful",
        "overdue",
        *(f"weeks {a}-{b}" for a, b in SPANS),
        "13 weeks",
        "later",
        title="expected cash",
    )
    for c in f.currencies:
        spans = [sum((w.total for w in c.weeks[a - 1 : b]), NONE) for a, b in SPANS]
        lines = (_amount(c.disputed), _amount(c.doubtful), _amount(c.overdue))
        table.add_row(c.currency, *lines, *(_amount(s) for s in spans), _amount(c.total), _amount(c.beyond))
    out.print(table)
    for c in f.currencies:
        by_source = {s: sum((w.amounts[s] for w in c.weeks), NONE) for s in Source}
        parts = [f"{s.value.replace('_', ' ')} {_amount(v)}" for s, v in by_source.items() if v]
        out.print(f"  {c.currency} in the 13 weeks: " + (", ".join(parts) or "nothing"), highlight=False)

    b = forecast_backtest(ctx)
    if not b.cutoffs:
        out.print("backtest: no history to test against yet")
        return f, b
    # a currency with nothing forecast or received in the weeks compared (only today's cash) is left out
    currencies = [c for c, rows in b.by_currency.items() if any(r.forecast or r.actual for r in rows)]
    out.print(
        f"backtest over {len(b.cutoffs)} weekly cut-offs, {b.cutoffs[0]} to {b.cutoffs[-1]}: each forecast made "
        "with only what was known that morning, each week compared with the cash received in it "
        "(MAE: mean absolute error per cut-off; WAPE: sum of absolute errors / cash received)",
        highlight=False,
    )
    table = Table(
        "weeks ahead", "cut-offs", *(f"{c} {m}" for c in currencies for m in ("MAE", "WAPE")), title="forecast error"
    )
    for horizon in HORIZONS:
        rows = {c: next((r for r in b.by_currency[c] if r.horizon == horizon), None) for c in currencies}
        counts = {r.cutoffs for r in rows.values() if r is not None}
        if not counts:
            continue
        cells = []
        for code in currencies:
            r = rows[code]
            cells += ["", ""] if r is None else [_amount(r.mae), "-" if r.wape is None else f"{r.wape:.0%}"]
        table.add_row(str(horizon), str(max(counts)), *cells)
    out.print(table)
    out.print(
        "near weeks miss by timing within each customer's spread of days late, and count on the invoices this "
        "history leaves unpaid without recording a dispute (`handoff dispute` would take them out of the weeks); "
        "far weeks miss the invoices not issued yet at the cut-off, which only contract schedules and the pipeline "
        "foretell (none before today in this history). "
        "`handoff forecast --backtest` shows every week ahead; docs/operations.md explains the numbers",
        highlight=False,
    )
    return f, b


def _amount(value: Decimal) -> str:
    """Whole units, so the tables fit a terminal (`handoff forecast` shows the cents)."""
    return f"{value:,.0f}" if value else "-"
