"""The demo's receivables history (`handoff.demo.history`) and the forecast section printed from it
(`handoff.demo.forecast`), on SQLite and PostgreSQL: 48 weeks of invoices to 22 customers paid each
its own way, so the cash forecast learns each customer's days late and its backtest has weekly
cut-offs to measure. The backtest's errors are the measurement: only their sanity is asserted."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

from rich.console import Console

from handoff.context import AppContext
from handoff.demo import history
from handoff.demo.forecast import run_forecast_demo
from handoff.demo.run import DEMO_USERS, demo_events
from handoff.users.service import add_user
from tests.conftest import Clock

TODAY = datetime(2026, 12, 9, 10, tzinfo=UTC)  # a Wednesday: the history ends on Monday 7 December
MONDAY = date(2026, 12, 7)


def test_the_plan_is_fixed_by_its_seed_and_issued_on_weekdays_before_the_week() -> None:
    planned = history.plan(MONDAY)
    assert planned == history.plan(MONDAY)
    later = history.plan(MONDAY + timedelta(weeks=3))
    assert [p.issue_on + timedelta(weeks=3) for p in planned] == [p.issue_on for p in later]
    assert [p.net for p in planned] == [p.net for p in later]
    assert all(p.issue_on.weekday() < 5 for p in planned)
    assert MONDAY - timedelta(weeks=history.WEEKS_BACK) <= planned[0].issue_on
    assert planned[-1].issue_on < MONDAY
    assert [p.issue_on for p in planned] == sorted(p.issue_on for p in planned)
    assert len({p.deal_id for p in planned}) == len(planned) > 150
    assert {p.account.customer_id for p in planned} == {a.customer_id for a in history.ACCOUNTS}


def test_the_history_feeds_the_forecast_and_its_backtest(ctx: AppContext, clock: Clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    clock.now = TODAY
    events = demo_events()
    for email, role, password in DEMO_USERS:
        add_user(ctx, email, role, password, actor="test")

    report = history.load_history(ctx, events, tmp_path / "history-payments.csv")

    planned = history.plan(MONDAY)
    assert [inv.issue_date for inv in report.invoices] == [p.issue_on for p in planned]
    numbers = [inv.number or "" for inv in report.invoices if inv.currency == "EUR" and inv.issue_date.year == 2026]
    assert numbers == sorted(numbers)  # issued in date order: the numbers run with the dates
    # some paid in full, some in part, some still open, some of those overdue and some disputed
    assert report.states["paid"] > 150 and report.states["partial"] >= 1 and report.states["open"] >= 10
    assert 0 < report.disputed < report.overdue
    payments = (tmp_path / "history-payments.csv").read_text().splitlines()
    assert len(payments) - 1 == report.payments
    assert max(line.split(",")[2] for line in payments[1:]) < MONDAY.isoformat()  # nothing paid from Monday on

    buffer = io.StringIO()
    forecast, backtest = run_forecast_demo(ctx, Console(file=buffer, width=200, color_system=None))
    printed = buffer.getvalue()

    # each customer pays its own way: the forecast learned it
    late = forecast.customer_days_late
    assert len(late) >= 18  # (a quarterly customer with a disputed invoice has fewer than 3 paid)
    for account in history.ACCOUNTS:
        if account.habit in (history.ON_TIME, history.LATE, history.SLOW) and account.customer_id in late:
            # drawn from the habit's range; a payment due on a weekend is booked on the Monday
            assert account.habit.earliest <= late[account.customer_id] <= account.habit.latest + 2, account
    # the forecast itself: open invoices expected in the next weeks, in both currencies of the history
    assert {c.currency for c in forecast.currencies} == {"EUR", "USD"}
    assert all(c.total > 0 for c in forecast.currencies)

    # the backtest: 26 weekly cut-offs (its default), every horizon measured, errors finite and sane
    assert len(backtest.cutoffs) >= 20
    assert set(backtest.by_currency) == {"EUR", "USD"}
    for rows in backtest.by_currency.values():
        assert [r.horizon for r in rows] == list(range(1, 14))
        assert rows[-1].cutoffs >= 10 and rows[0].cutoffs == len(backtest.cutoffs)
        for r in rows:
            assert r.mae.is_finite() and r.mae >= 0 and r.actual > 0
            assert r.wape is not None and r.wape.is_finite() and r.wape >= 0
    assert f"backtest over {len(backtest.cutoffs)} weekly cut-offs" in printed
    shown = re.findall(r"^│ (\d+) +│ (\d+) +│", printed, flags=re.MULTILINE)
    assert [int(h) for h, _ in shown] == [1, 2, 4, 8, 13]
    eur = {r.horizon: r for r in backtest.by_currency["EUR"]}
    assert [int(n) for _, n in shown] == [eur[h].cutoffs for h in (1, 2, 4, 8, 13)]
    assert f"{eur[1].wape:.0%}" in printed and f"{eur[1].mae:,.0f}" in printed
