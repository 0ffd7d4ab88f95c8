"""The cash forecast's backtest, pure: how far the 13 weekly buckets of `reporting.forecast` were
from the cash actually received, measured on the past.

Method (`backtest`): for each cut-off day in the past, the inputs are rebuilt as they stood that morning
(`inputs_at`): invoices issued before the cut-off, open by what was paid and credited before it,
disputed when their (still open) dispute was opened before it; the days-late history of invoices settled
before it; schedule items and milestones whose contract existed and that were not invoiced yet (a
milestone accepted before the cut-off counts at likelihood 1 on its acceptance day); pipeline deals
received before it. The forecast's weekly totals are compared, per currency and horizon (week 1..13 from
the cut-off's Monday), with the cash actually received in that week (payments with `cash=True`:
write-offs and credits are not cash); only weeks that had ended by `through` (today) count. Per horizon,
over the cut-offs that reach it: MAE = mean |forecast - actual|, WAPE = sum |forecast - actual| / sum
actual (None when nothing was received). The overdue, disputed and doubtful lines are in no week, so
their cash counts as error where it arrives: the backtest measures the weeks as people read them. What
handoff does not keep cannot be replayed: a dispute cleared since (only open disputes are kept) was not
one then; a deal's earlier stages (orders keep the current version), so a deal won since is in no past
pipeline, and the feeder's milestone lead time is today's (see `reporting.service.forecast`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from handoff.kernel.money import ZERO, round2
from handoff.reporting.forecast import (
    DEFAULT_DOUBTFUL_AFTER_DAYS,
    DEFAULT_MILESTONE_LIKELIHOOD,
    NONE,
    ONE,
    WEEKS,
    Forecast,
    ForecastInputs,
    OpenReceivable,
    PaidInvoice,
    PipelineDeal,
    PlannedMilestone,
    ScheduledBilling,
    forecast,
)


@dataclass(frozen=True, slots=True)
class Settlement:
    """Money that settled part of an invoice: a payment (`cash`) or a write-off / credit (not cash)."""

    on: date
    amount: Decimal
    cash: bool = True


@dataclass(frozen=True, slots=True)
class LedgerInvoice:
    """An issued invoice with everything that settled it, dated: the backtest's history."""

    number: str
    customer_id: str
    currency: str
    issue_date: date
    due_date: date
    gross: Decimal
    settlements: tuple[Settlement, ...] = ()
    disputed_on: date | None = None  # the day its open dispute was opened (None: not disputed)

    def open_before(self, day: date) -> Decimal:
        return self.gross - sum((s.amount for s in self.settlements if s.on < day), ZERO)

    def settled_on(self) -> date | None:
        """The day what settled it reached its gross (None while something is open)."""
        done = ZERO
        for s in sorted(self.settlements, key=lambda s: s.on):
            done += s.amount
            if done >= self.gross:
                return s.on
        return None


def inputs_at(
    cutoff: date,
    ledger: Sequence[LedgerInvoice],
    scheduled: Sequence[ScheduledBilling] = (),
    milestones: Sequence[PlannedMilestone] = (),
    pipeline: Sequence[PipelineDeal] = (),
    milestone_likelihood: Decimal = DEFAULT_MILESTONE_LIKELIHOOD,
    as_of: date | None = None,
    doubtful_after_days: int = DEFAULT_DOUBTFUL_AFTER_DAYS,
) -> ForecastInputs:
    """The forecast's inputs as they stood on the morning of `cutoff` (see the module docstring),
    for a forecast from `as_of` (default: the cut-off; today's forecast knows today: cut-off tomorrow)."""
    receivables, history = [], []
    for inv in ledger:
        if inv.issue_date >= cutoff:
            continue
        settled = inv.settled_on()
        if settled is not None and settled < cutoff:
            history.append(PaidInvoice(inv.customer_id, inv.due_date, settled))
        elif (left := inv.open_before(cutoff)) > 0:
            disputed = inv.disputed_on is not None and inv.disputed_on < cutoff
            receivables.append(
                OpenReceivable(inv.number, inv.customer_id, inv.currency, left, inv.due_date, inv.issue_date, disputed)
            )

    def known(item: ScheduledBilling | PlannedMilestone | PipelineDeal) -> bool:
        return (item.known_from is None or item.known_from < cutoff) and (
            item.invoiced_on is None or item.invoiced_on >= cutoff
        )

    def as_known(m: PlannedMilestone) -> PlannedMilestone:
        if m.accepted_on is not None and m.accepted_on < cutoff:
            return replace(m, planned_date=m.accepted_on, likelihood=ONE)
        return m

    return ForecastInputs(
        as_of=cutoff if as_of is None else as_of,
        receivables=receivables,
        history=history,
        scheduled=[s for s in scheduled if known(s)],
        milestones=[as_known(m) for m in milestones if known(m)],
        pipeline=[d for d in pipeline if known(d)],
        milestone_likelihood=milestone_likelihood,
        doubtful_after_days=doubtful_after_days,
    )


def received_by_week(ledger: Sequence[LedgerInvoice], first: date, weeks: int = WEEKS) -> dict[str, list[Decimal]]:
    """Cash actually received per currency in each week from `first` (a Monday)."""
    out: dict[str, list[Decimal]] = {}
    end = first + timedelta(weeks=weeks)
    for inv in ledger:
        for s in inv.settlements:
            if s.cash and first <= s.on < end:
                out.setdefault(inv.currency, [NONE] * weeks)[(s.on - first).days // 7] += s.amount
    return out


@dataclass(frozen=True, slots=True)
class HorizonError:
    horizon: int  # 1 = the cut-off's own week
    cutoffs: int
    forecast: Decimal  # summed over the cut-offs
    actual: Decimal
    mae: Decimal  # mean absolute error per cut-off, cents (half up)
    wape: Decimal | None  # sum |error| / sum actual, 4 decimals; None when nothing was received


@dataclass(frozen=True, slots=True)
class Backtest:
    cutoffs: tuple[date, ...]
    by_currency: dict[str, tuple[HorizonError, ...]]
    # per cut-off and currency: (forecast, actual) of each week, for whoever wants to see the detail
    detail: dict[date, dict[str, list[tuple[Decimal, Decimal]]]] = field(default_factory=dict)


def backtest(
    cutoffs: Sequence[date],
    ledger: Sequence[LedgerInvoice],
    scheduled: Sequence[ScheduledBilling] = (),
    milestones: Sequence[PlannedMilestone] = (),
    pipeline: Sequence[PipelineDeal] = (),
    milestone_likelihood: Decimal = DEFAULT_MILESTONE_LIKELIHOOD,
    through: date | None = None,
    weeks: int = WEEKS,
    doubtful_after_days: int = DEFAULT_DOUBTFUL_AFTER_DAYS,
) -> Backtest:
    """Forecast at each cut-off with what was known then and compare each week with the cash received.
    Only weeks that ended by `through` (today; None: all 13) are compared: a week still running has
    not received its cash yet."""
    made_at: dict[date, tuple[Forecast, dict[str, list[Decimal]], int]] = {}
    for cutoff in cutoffs:
        known = inputs_at(
            cutoff, ledger, scheduled, milestones, pipeline, milestone_likelihood, None, doubtful_after_days
        )
        made = forecast(known)
        complete = weeks if through is None else max(0, min(weeks, (through - made.first_week).days // 7))
        made_at[cutoff] = (made, received_by_week(ledger, made.first_week, weeks), complete)
    currencies = sorted(
        {c.currency for m, _, _ in made_at.values() for c in m.currencies}
        | {c for _, got, _ in made_at.values() for c in got}
    )
    detail: dict[date, dict[str, list[tuple[Decimal, Decimal]]]] = {}
    for cutoff, (made, actual, complete) in made_at.items():
        per: dict[str, list[tuple[Decimal, Decimal]]] = {}
        for currency in currencies:
            predicted = made.currency(currency)
            got = actual.get(currency, [NONE] * weeks)
            per[currency] = [
                (predicted.weeks[k].total if predicted is not None else NONE, got[k]) for k in range(complete)
            ]
        detail[cutoff] = per
    return Backtest(tuple(cutoffs), errors(detail, weeks), detail)


def errors(
    detail: Mapping[date, Mapping[str, Sequence[tuple[Decimal, Decimal]]]], weeks: int = WEEKS
) -> dict[str, tuple[HorizonError, ...]]:
    """MAE and WAPE per currency and horizon over the cut-offs that reach that horizon (a week that had
    not ended is not compared; a horizon no cut-off reaches is left out)."""
    currencies = sorted({c for per in detail.values() for c in per})
    out: dict[str, tuple[HorizonError, ...]] = {}
    for currency in currencies:
        rows = []
        for k in range(weeks):
            pairs = [per[currency][k] for per in detail.values() if currency in per and k < len(per[currency])]
            if not pairs:
                continue
            absolute = sum((abs(f - a) for f, a in pairs), NONE)
            actual = round2(sum((a for _, a in pairs), NONE))
            rows.append(
                HorizonError(
                    horizon=k + 1,
                    cutoffs=len(pairs),
                    forecast=round2(sum((f for f, _ in pairs), NONE)),
                    actual=actual,
                    mae=round2(absolute / len(pairs)),
                    wape=(absolute / actual).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) if actual else None,
                )
            )
        out[currency] = tuple(rows)
    return out
