"""The 13-week cash forecast and its backtest (`reporting.forecast`), fed from what handoff holds:
issued invoices with their dated payments and credits (`reporting.forecast_repository`), contract
schedules (`contracts.service.queries.schedule_outlook`), and the open CRM pipeline (orders in state
`pipeline`: the deal as the CRM sent it; `stage`, `close_date`, `payment_terms`, `amount` and, when
the export carries one, `probability`).

How each input is fed, where handoff lacks a fact:
- scheduled billing: planned items of active contracts (not milestones) and items on an invoice still in
  draft (not issued: not a receivable yet, billed today at the earliest); the amount is net x (1 + the
  customer's tax rate on its issued invoices in that currency, tax / net) when it has some, else net.
- milestones: not accepted yet; handoff keeps no planned date (a project plan will), so the planned
  date is the contract's billing start + the portfolio's median lead time to acceptance (accepted
  milestones), else + `forecast.milestone_lead_days`; the likelihood is `forecast.milestone_likelihood`
  or 0.7 (no planned dates, so no on-time history yet).
- pipeline: stage probability from the deal's own `probability` (0-1 or a percent), else
  `forecast.stage_probabilities`, else `forecast.default_stage_probability`; close date from the deal
  (else the day handoff received it); payment terms by code from `payment_terms`, else
  `forecast.default_payment_terms_days`.
Reads only, no transaction.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from handoff.context import AppContext
from handoff.contracts.service.queries import OutlookItem, schedule_outlook
from handoff.kernel.money import ZERO, round2
from handoff.reporting.domain import close_day
from handoff.reporting.forecast import (
    WEEKS,
    Forecast,
    ForecastError,
    PipelineDeal,
    PlannedMilestone,
    ScheduledBilling,
    Source,
    acceptance_likelihood,
    forecast,
    median_days,
    week_start,
)
from handoff.reporting.forecast_backtest import Backtest, LedgerInvoice, Settlement, backtest, inputs_at
from handoff.reporting.forecast_repository import ForecastRepository, LedgerRow, PipelineRow

__all__ = [
    "Backtest",
    "Forecast",
    "ForecastError",
    "cash_forecast",
    "default_cutoffs",
    "forecast_backtest",
    "forecast_csv",
    "recent_forecast",
]

BACKTEST_WEEKS = 26  # default cut-offs: the Mondays of the last 26 weeks with history
# the payment history read: invoices issued in the last year (and any still open), so the forecast's
# read stays bounded however long the ledger grows, and days late follow how customers pay now
HISTORY_DAYS = 365
MAX_CUTOFFS = 104  # two years of weekly cut-offs in one backtest
EARLIEST, LATEST = date(1900, 1, 1), date(9000, 12, 31)


class _History:
    """Everything the forecast reads, gathered once and shared by the forecast and the backtest."""

    def __init__(self, ctx: AppContext, since: date | None, past: bool = False) -> None:
        repo = ForecastRepository(ctx.engine)
        model = ctx.config.model
        self.settings = model.forecast
        self.terms = model.payment_terms
        self.stages = {_stage(k): v for k, v in self.settings.stage_probabilities.items()}
        rows = repo.ledger(since)
        self.ledger = [_invoice(r) for r in rows]
        self.tax_rates = _tax_rates(rows)
        outlook = schedule_outlook(ctx, include_billed=past)  # the backtest also needs what was billed
        self.scheduled = [
            s
            for i in outlook
            if i.trigger != "milestone" and i.bill_date is not None and (s := self._scheduled(i)) is not None
        ]
        self.milestones = self._milestones([i for i in outlook if i.trigger == "milestone"])
        self.pipeline = [d for d in (self._deal(r) for r in repo.pipeline()) if d is not None]

    def likelihood(self, as_of: date) -> Decimal:
        return acceptance_likelihood([], as_of, self.settings.milestone_likelihood)

    def _days(self, code: str) -> int:
        days = self.terms.get(code.strip().lower())
        return self.settings.default_payment_terms_days if days is None else days

    def _gross(self, customer: str, currency: str, net: Decimal) -> tuple[Decimal, bool]:
        rate = self.tax_rates.get((customer, currency))
        return (net, False) if rate is None else (round2(net * (1 + rate)), True)

    def _scheduled(self, item: OutlookItem) -> ScheduledBilling | None:
        invoiced = item.invoice_issue_date if item.status == "billed" else None
        if item.status == "planned" and item.contract_status != "active":
            return None
        amount, taxed = self._gross(item.customer_id, item.currency, item.amount)
        return ScheduledBilling(
            reference=f"contract {item.contract_id} line {item.line_key} {item.period_key}",
            customer_id=item.customer_id,
            currency=item.currency,
            bill_date=item.bill_date or item.period_start,
            amount=amount,
            tax_included=taxed,
            payment_terms_days=self._days(item.payment_terms),
            known_from=item.contract_created.date(),
            invoiced_on=invoiced,
        )

    def _milestones(self, items: Sequence[OutlookItem]) -> list[PlannedMilestone]:
        accepted = [i for i in items if i.bill_date is not None]
        lead = median_days((i.bill_date - i.period_start).days for i in accepted if i.bill_date is not None)
        lead_days = self.settings.milestone_lead_days if lead is None else lead
        out = []
        for i in items:
            if i.bill_date is None and (i.status != "planned" or i.contract_status != "active"):
                continue
            amount, taxed = self._gross(i.customer_id, i.currency, i.amount)
            out.append(
                PlannedMilestone(
                    reference=f"contract {i.contract_id} {i.period_key}",
                    customer_id=i.customer_id,
                    currency=i.currency,
                    planned_date=i.period_start + timedelta(days=lead_days),
                    amount=amount,
                    payment_terms_days=self._days(i.payment_terms),
                    tax_included=taxed,
                    known_from=i.contract_created.date(),
                    invoiced_on=i.invoice_issue_date if i.status == "billed" else None,
                    accepted_on=i.bill_date,
                )
            )
        return out

    def _deal(self, row: PipelineRow) -> PipelineDeal | None:
        probability = _probability(row.data.get("probability"))
        if probability is None:
            stage = _stage(str(row.data.get("stage", "")))
            probability = self.stages.get(stage, self.settings.default_stage_probability)
        if row.amount is None or row.amount <= 0 or probability <= 0 or not row.currency:
            return None
        return PipelineDeal(
            deal_id=row.deal_id,
            customer_id=row.customer_id,
            currency=row.currency,
            # a CRM's "never" (9999-12-31) is past the 13 weeks anyway: kept where the weeks' dates fit
            close_date=min(close_day(row.data.get("close_date")) or row.received_at.date(), LATEST),
            amount=row.amount,
            probability=probability,
            payment_terms_days=self._days(str(row.data.get("payment_terms", ""))),
            known_from=row.received_at.date(),
        )


def _in_range(day: date, name: str) -> date:
    """A day the forecast can compute from (its year's history and 13 weeks fit in the calendar)."""
    if not EARLIEST <= day <= LATEST:
        raise ForecastError("forecast", name, f"must be between {EARLIEST} and {LATEST}, not {day}")
    return day


def _stage(name: str) -> str:
    """A stage name as compared: lower case, without spaces, dashes and underscores ("Closed Lost": closedlost)."""
    return "".join(ch for ch in name.lower() if ch not in " -_")


def _probability(value: object) -> Decimal | None:
    """A deal's own probability: 0.4 or 40 (a percent); None when absent or unreadable."""
    if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = Decimal(str(value).strip().rstrip("%"))
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0 or number > 100:
        return None
    return number / 100 if number > 1 else number


def _invoice(row: LedgerRow) -> LedgerInvoice:
    return LedgerInvoice(
        row.number,
        row.customer_id,
        row.currency,
        row.issue_date,
        row.due_date,
        row.gross,
        tuple(Settlement(on, amount, cash) for on, amount, cash in sorted(row.settlements, key=lambda s: s[0])),
        row.disputed_on,
    )


def _tax_rates(rows: Sequence[LedgerRow]) -> dict[tuple[str, str], Decimal]:
    """(customer, currency) -> tax / net over its issued invoices (unrounded; where net > 0)."""
    sums: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for r in rows:
        net, tax = sums.get((r.customer_id, r.currency), (ZERO, ZERO))
        sums[(r.customer_id, r.currency)] = (net + r.net, tax + r.tax)
    return {key: tax / net for key, (net, tax) in sums.items() if net > 0}


def cash_forecast(ctx: AppContext, as_of: date | None = None) -> Forecast:
    """The 13-week cash forecast from `as_of` (default today), knowing what was recorded through that day."""
    today = ctx.clock().date()
    day = _in_range(as_of or today, "as_of")
    # a day in the past is forecast as it stood then, so it also needs what has been billed since
    h = _History(ctx, day - timedelta(days=HISTORY_DAYS), past=day < today)
    return forecast(
        inputs_at(
            day + timedelta(days=1),
            h.ledger,
            h.scheduled,
            h.milestones,
            h.pipeline,
            h.likelihood(day),
            day,
            h.settings.doubtful_after_days,
        )
    )


def default_cutoffs(ctx: AppContext, today: date | None = None, weeks: int = BACKTEST_WEEKS) -> list[date]:
    """The Mondays after the first invoice's week up to the last one before today's week, at most `weeks`."""
    return _cutoffs(_History(ctx, None, past=True), today or ctx.clock().date(), weeks)


def _cutoffs(h: _History, today: date, weeks: int) -> list[date]:
    if not h.ledger:
        return []
    first = week_start(min(i.issue_date for i in h.ledger)) + timedelta(weeks=1)
    last = week_start(today) - timedelta(weeks=1)
    days = [first + timedelta(weeks=k) for k in range(max(0, (last - first).days // 7 + 1))]
    return days[-weeks:]


def forecast_backtest(
    ctx: AppContext, cutoffs: Sequence[date] | None = None, today: date | None = None, weeks: int = WEEKS
) -> Backtest:
    """The forecast's error per horizon over past cut-offs (default: `default_cutoffs`), each week
    compared with the cash received in it, if it has ended by `today`."""
    day = today or ctx.clock().date()
    if cutoffs is not None and len(cutoffs) > MAX_CUTOFFS:
        raise ForecastError("backtest", "cutoff", f"takes at most {MAX_CUTOFFS} days, not {len(cutoffs)}")
    for cutoff in cutoffs or ():
        _in_range(cutoff, "cutoff")
        if cutoff >= day:  # no week of it has ended: nothing to compare yet
            raise ForecastError("backtest", "cutoff", f"{cutoff} is not in the past (today is {day})")
    since = None if not cutoffs else min(cutoffs) - timedelta(days=HISTORY_DAYS)
    h = _History(ctx, since, past=True)
    chosen = list(cutoffs) if cutoffs is not None else _cutoffs(h, day, BACKTEST_WEEKS)
    return backtest(
        chosen,
        h.ledger,
        h.scheduled,
        h.milestones,
        h.pipeline,
        h.likelihood(day),
        through=day,
        weeks=weeks,
        doubtful_after_days=h.settings.doubtful_after_days,
    )


_recent: dict[tuple[int, date], tuple[float, Forecast]] = {}


def recent_forecast(ctx: AppContext, max_age: float = 15.0) -> Forecast:
    """Today's forecast, reused for `max_age` seconds: the dashboard page and its charts share one."""
    now, day = time.monotonic(), ctx.clock().date()
    hit = _recent.get((id(ctx), day))
    if hit is not None and now - hit[0] < max_age:
        return hit[1]
    result = cash_forecast(ctx, day)
    if len(_recent) > 64:  # a day's key per context: old days go
        _recent.clear()
    _recent[(id(ctx), day)] = (now, result)
    return result


def forecast_csv(f: Forecast) -> str:
    """One row per currency and bucket (overdue, disputed, doubtful, week 1..13, beyond), a column per
    source and the total. Only codes, dates and amounts: no text a spreadsheet could take for a formula."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    sources = [s.value for s in Source]
    writer.writerow(["currency", "bucket", "week_start", *sources, "total"])
    for c in f.currencies:
        writer.writerow([c.currency, "overdue", "", c.overdue, "", "", "", c.overdue])
        writer.writerow([c.currency, "disputed", "", c.disputed, "", "", "", c.disputed])
        writer.writerow([c.currency, "doubtful", "", c.doubtful, "", "", "", c.doubtful])
        for k, w in enumerate(c.weeks, start=1):
            writer.writerow([c.currency, f"week {k}", w.start.isoformat(), *(w.amounts[s] for s in Source), w.total])
        writer.writerow([c.currency, "beyond", "", "", "", "", "", c.beyond])
    return buf.getvalue()
