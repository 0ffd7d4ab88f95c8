"""What `handoff forecast` prints: the 13-week cash forecast as one table per currency (or CSV), or
the backtest's error per week ahead. The command itself is in `reporting.cli`."""

from __future__ import annotations

import sys
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from handoff.kernel.cli_support import fail, out
from handoff.reporting.forecast import Source
from handoff.reporting.service import forecast as forecasts

if TYPE_CHECKING:
    from handoff.context import AppContext


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}" if value else "-"


def print_forecast(ctx: AppContext, as_of: date | None, as_csv: bool) -> None:
    try:
        f = forecasts.cash_forecast(ctx, as_of)
    except forecasts.ForecastError as exc:
        fail(escape(str(exc)))
    if as_csv:
        sys.stdout.write(forecasts.forecast_csv(f))
        return
    late = "none paid yet" if f.portfolio_days_late is None else f"{f.portfolio_days_late} days"
    out.print(
        f"cash forecast from {f.as_of} (weeks from Monday {f.first_week}); portfolio median days late: {late}; "
        f"{len(f.customer_days_late)} customers with their own; milestone likelihood {f.milestone_likelihood}",
        highlight=False,
    )
    if not f.currencies:
        out.print("no cash expected: nothing open, planned or in the pipeline")
    for c in f.currencies:
        table = Table("week", *(s.value.replace("_", " ") for s in Source), "total", title=c.currency)
        table.add_row("overdue", _amount(c.overdue), "", "", "", _amount(c.overdue))
        table.add_row("disputed", _amount(c.disputed), "", "", "", _amount(c.disputed))
        table.add_row(f"doubtful (>{f.doubtful_after_days} days)", _amount(c.doubtful), "", "", "", _amount(c.doubtful))
        for w in c.weeks:
            table.add_row(w.start.isoformat(), *(_amount(w.amounts[s]) for s in Source), _amount(w.total))
        table.add_row("later", "", "", "", "", _amount(c.beyond))
        table.add_row("13 weeks", "", "", "", "", _amount(c.total))
        out.print(table)


def print_backtest(ctx: AppContext, today: date | None) -> None:
    b = forecasts.forecast_backtest(ctx, today=today)
    if not b.cutoffs:
        out.print("no history to test against yet: the first invoice was issued less than two weeks ago")
        return
    out.print(f"backtest over {len(b.cutoffs)} cut-offs, {b.cutoffs[0]} to {b.cutoffs[-1]}", highlight=False)
    for currency, rows in b.by_currency.items():
        table = Table("weeks ahead", "cut-offs", "forecast", "received", "MAE", "WAPE", title=currency)
        for r in rows:
            wape = "-" if r.wape is None else f"{r.wape:.1%}"
            table.add_row(str(r.horizon), str(r.cutoffs), _amount(r.forecast), _amount(r.actual), _amount(r.mae), wape)
        out.print(table)
