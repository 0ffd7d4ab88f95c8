"""The 13-week cash forecast, pure: what cash is expected in each of the next 13 weeks, per currency,
from what is open, planned and likely.

Sources (each an input type below; amounts are never converted between currencies):

- receivables: an open invoice's open amount (gross - paid - credited) is spread over the days
  its customer has paid on: each of the customer's days-late samples (paid date - due date of its
  invoices settled in the `SAMPLE_DAYS` (365) before `as_of`, when it has at least
  `MIN_PAID_INVOICES` (3), else the portfolio's samples, else a single 0: paid on the due date) puts
  an equal share on due date + that many days. The invoice has not been paid before `as_of`, so
  only the samples of at least its days past due d = as_of - due date count, re-normalised
  (conditional on not paid so far). Lines, in no week: an invoice with an open dispute is not
  expected cash (`disputed`); one past due by more than `doubtful_after_days` (90) is `doubtful`;
  one later than every sample of its customer is `overdue`.
- scheduled billing: a contract's planned schedule item is invoiced on its bill date (or today when
  the billing run has not reached it yet), due after the contract's payment terms, and paid spread
  over the customer's days-late samples like a receivable not yet due; the amount includes VAT where
  the feeder knows it (`tax_included`), else net.
- milestones not yet accepted: invoiced on the planned date (or today when that has passed), weighted
  by the acceptance likelihood (the item's own, else the forecast's: configured, or the share of past
  milestones accepted on or before their planned date when at least 3 are known, else 0.7).
- pipeline: an open CRM deal is invoiced on its expected close date (or today when it has passed),
  weighted by its stage probability, then paid like scheduled billing.

A receipt is never expected before the day it is invoiced (an early payer cannot pay before that).
Weeks run Monday to Sunday; the first is the week of `as_of`; an expectation after the 13th week is
summed in `beyond`. An input's spread is kept as one expected receipt per week (and one for
`beyond`) it reaches, dated on the first day of that week a sample falls on. Rounding: an input's
amount x weight is rounded to cents, half up (`kernel.money.round2`), once; its cents are split over
the weeks in proportion to the samples in each by largest remainder (ties: the earlier week), so the
parts add up to it exactly; every bucket is a plain sum of those cents, so the weeks, the lines of
the CSV and the totals add up exactly. The median days late (`days_late`) is kept for display.

The backtest (`reporting.forecast_backtest`) measures how far these weeks were from the cash received.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from handoff.kernel.money import CENT, ZERO, round2

WEEKS = 13
MIN_PAID_INVOICES = 3  # fewer paid invoices than this: the customer gets the portfolio's samples
SAMPLE_DAYS = 365  # days-late samples: invoices settled in the year before as_of
DEFAULT_DOUBTFUL_AFTER_DAYS = 90  # past due by more than this: the doubtful line, not a week
DEFAULT_MILESTONE_LIKELIHOOD = Decimal("0.7")
ONE = Decimal(1)
NONE = ZERO.quantize(CENT)  # 0.00: an empty bucket, written with cents like the others


class Source(StrEnum):
    """Where an expected receipt comes from (the forecast's stacked series)."""

    RECEIVABLES = "receivables"
    SCHEDULED_BILLING = "scheduled_billing"
    MILESTONES = "milestones"
    PIPELINE = "pipeline"


class Line(StrEnum):
    """Where an open receivable goes when it is not expected in a week."""

    OVERDUE = "overdue"  # past due, later than every days-late sample of its customer
    DISPUTED = "disputed"  # an open dispute: not expected cash
    DOUBTFUL = "doubtful"  # past due by more than `doubtful_after_days`


class ForecastError(ValueError):
    """An input the forecast cannot use, naming the record and the field."""

    def __init__(self, record: str, field_name: str, problem: str) -> None:
        super().__init__(f"{record}: {field_name} {problem}")
        self.record, self.field = record, field_name


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenReceivable:
    invoice_number: str
    customer_id: str
    currency: str
    open_amount: Decimal  # gross - paid - credited (what the customer still owes)
    due_date: date
    issue_date: date
    disputed: bool = False  # an open dispute (`handoff dispute`): not expected cash


@dataclass(frozen=True, slots=True)
class PaidInvoice:
    """One settled invoice of a customer's payment history."""

    customer_id: str
    due_date: date
    paid_on: date  # the day it was fully settled

    @property
    def days_late(self) -> int:
        return (self.paid_on - self.due_date).days


@dataclass(frozen=True, slots=True)
class ScheduledBilling:
    reference: str  # "contract C-1 line L1 2027-02-01"
    customer_id: str
    currency: str
    bill_date: date
    amount: Decimal
    tax_included: bool  # amount with VAT (estimated from the customer's invoices) or net
    payment_terms_days: int
    known_from: date | None = None  # backtest: the day it became known (its contract's creation)
    invoiced_on: date | None = None  # backtest: the day it was invoiced (None: not yet)


@dataclass(frozen=True, slots=True)
class PlannedMilestone:
    reference: str  # "contract C-1 milestone M2"
    customer_id: str
    currency: str
    planned_date: date
    amount: Decimal
    payment_terms_days: int
    likelihood: Decimal | None = None  # None: the forecast's milestone likelihood
    tax_included: bool = False
    known_from: date | None = None
    invoiced_on: date | None = None  # backtest: the day its invoice was issued
    accepted_on: date | None = None  # accepted: from that day on it is billed on it, likelihood 1


@dataclass(frozen=True, slots=True)
class PipelineDeal:
    deal_id: str
    customer_id: str
    currency: str
    close_date: date
    amount: Decimal
    probability: Decimal  # 0..1, from the stage
    payment_terms_days: int
    known_from: date | None = None
    invoiced_on: date | None = None


@dataclass(frozen=True, slots=True)
class ForecastInputs:
    as_of: date
    receivables: Sequence[OpenReceivable] = ()
    history: Sequence[PaidInvoice] = ()
    scheduled: Sequence[ScheduledBilling] = ()
    milestones: Sequence[PlannedMilestone] = ()
    pipeline: Sequence[PipelineDeal] = ()
    milestone_likelihood: Decimal = DEFAULT_MILESTONE_LIKELIHOOD
    doubtful_after_days: int = DEFAULT_DOUBTFUL_AFTER_DAYS


# --- outputs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpectedReceipt:
    """One input's expected cash in one week (or on a line): its share of round2(open or planned
    amount x likelihood), split by largest remainder; `weight` = likelihood x the share of its
    days-late samples in that week (4 decimals, for display). On a line, `expected_on` is the due date."""

    source: Source
    reference: str
    customer_id: str
    currency: str
    expected_on: date
    amount: Decimal
    weight: Decimal
    line: Line | None = None  # None: in a week or beyond

    @property
    def overdue(self) -> bool:
        return self.line is Line.OVERDUE


@dataclass(frozen=True, slots=True)
class Week:
    start: date  # a Monday
    amounts: dict[Source, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), NONE)


@dataclass(frozen=True, slots=True)
class CurrencyForecast:
    currency: str
    overdue: Decimal  # open receivables past due later than every days-late sample of their customer
    weeks: tuple[Week, ...]
    beyond: Decimal  # expected after the 13th week
    disputed: Decimal = NONE  # open receivables with an open dispute
    doubtful: Decimal = NONE  # open receivables past due by more than doubtful_after_days

    @property
    def total(self) -> Decimal:
        return sum((w.total for w in self.weeks), NONE)


@dataclass(frozen=True, slots=True)
class Forecast:
    as_of: date
    first_week: date
    currencies: tuple[CurrencyForecast, ...]
    receipts: tuple[ExpectedReceipt, ...]
    portfolio_days_late: int | None  # the median, for display; None: no paid invoice yet
    customer_days_late: dict[str, int]  # medians of customers with their own samples (>= MIN_PAID_INVOICES)
    milestone_likelihood: Decimal
    doubtful_after_days: int = DEFAULT_DOUBTFUL_AFTER_DAYS

    def currency(self, code: str) -> CurrencyForecast | None:
        return next((c for c in self.currencies if c.currency == code), None)


# --- the forecast ---------------------------------------------------------------------------------


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def median_days(values: Iterable[int]) -> int | None:
    """The median of whole days, an even count's middle pair averaged and rounded half up to a day."""
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    pair = (Decimal(ordered[mid - 1]) + Decimal(ordered[mid])) / 2
    return int(pair.quantize(ONE, rounding=ROUND_HALF_UP))


def days_late(history: Iterable[PaidInvoice], minimum: int = MIN_PAID_INVOICES) -> tuple[int | None, dict[str, int]]:
    """(the portfolio's median days late, each customer's own median where it has `minimum` paid)."""
    by_customer: dict[str, list[int]] = {}
    every: list[int] = []
    for paid in history:
        by_customer.setdefault(paid.customer_id, []).append(paid.days_late)
        every.append(paid.days_late)
    own = {c: m for c, late in by_customer.items() if len(late) >= minimum and (m := median_days(late)) is not None}
    return median_days(every), own


def days_late_samples(
    history: Iterable[PaidInvoice], minimum: int = MIN_PAID_INVOICES
) -> tuple[list[int], dict[str, list[int]]]:
    """(every paid invoice's days late, sorted; each customer's own where it has `minimum` paid)."""
    by_customer: dict[str, list[int]] = {}
    for paid in history:
        by_customer.setdefault(paid.customer_id, []).append(paid.days_late)
    every = sorted(late for samples in by_customer.values() for late in samples)
    return every, {c: sorted(late) for c, late in by_customer.items() if len(late) >= minimum}


def split_cents(amount: Decimal, counts: Sequence[int]) -> list[Decimal]:
    """`amount` (rounded to cents) split in proportion to `counts` by largest remainder: each part
    gets its floor in cents, the cents left go one each to the largest remainders (ties: the earlier
    part), so the parts add up to the amount exactly."""
    cents = int(round2(amount) * 100)
    total = sum(counts)
    if total <= 0 or any(c < 0 for c in counts):
        raise ValueError(f"counts must be non-negative with a positive sum, not {list(counts)}")
    parts = [divmod(cents * c, total) for c in counts]
    left = cents - sum(q for q, _ in parts)
    order = sorted(range(len(counts)), key=lambda k: (-parts[k][1], k))
    bonus = set(order[:left])
    return [(Decimal(q + (k in bonus)) / 100).quantize(CENT) for k, (q, _) in enumerate(parts)]


def acceptance_likelihood(
    planned_vs_accepted: Iterable[tuple[date, date | None]],
    as_of: date,
    configured: Decimal | None = None,
    minimum: int = MIN_PAID_INVOICES,
) -> Decimal:
    """The milestone acceptance likelihood: the configured one; else, when at least `minimum`
    milestones had their planned date before `as_of`, the share accepted on or before it (4
    decimals); else 0.7."""
    if configured is not None:
        return configured
    due = [(planned, accepted) for planned, accepted in planned_vs_accepted if planned < as_of]
    if len(due) < minimum:
        return DEFAULT_MILESTONE_LIKELIHOOD
    on_time = sum(1 for planned, accepted in due if accepted is not None and accepted <= planned)
    return (Decimal(on_time) / Decimal(len(due))).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _check(record: str, amount: Decimal, weight: Decimal | None = None, terms: int = 0) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ForecastError(record, "amount", f"must be a Decimal, not {amount!r}")
    if weight is not None and not ZERO <= weight <= ONE:
        raise ForecastError(record, "probability", f"must be between 0 and 1, not {weight}")
    if terms < 0:
        raise ForecastError(record, "payment_terms_days", f"must not be negative, not {terms}")


def forecast(inputs: ForecastInputs) -> Forecast:
    """The 13 weekly buckets per currency (see the module docstring for the rules)."""
    as_of = inputs.as_of
    first = week_start(as_of)
    recent = [p for p in inputs.history if p.paid_on >= as_of - timedelta(days=SAMPLE_DAYS)]
    portfolio, own = days_late_samples(recent)

    def samples(customer: str) -> list[int]:
        return own.get(customer) or portfolio or [0]

    receipts: list[ExpectedReceipt] = []

    def spread(
        source: Source,
        reference: str,
        customer: str,
        currency: str,
        amount: Decimal,
        weight: Decimal,
        invoiced: date,
        due: date,
        late: Sequence[int],
    ) -> None:
        """`amount` (already x weight, in cents) over the weeks of due + each of `late`, not before `invoiced`."""
        by_week: dict[int, tuple[date, int]] = {}
        for days in late:
            day = max(invoiced, due + timedelta(days=days))
            index = min((day - first).days // 7, WEEKS)
            earliest, count = by_week.get(index, (day, 0))
            by_week[index] = (min(earliest, day), count + 1)
        weeks = sorted(by_week)
        counts = [by_week[k][1] for k in weeks]
        for k, part in zip(weeks, split_cents(amount, counts), strict=True):
            if part:
                share = (weight * by_week[k][1] / len(late)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
                receipts.append(ExpectedReceipt(source, reference, customer, currency, by_week[k][0], part, share))

    for r in inputs.receivables:
        _check(f"invoice {r.invoice_number}", r.open_amount)
        past_due = (as_of - r.due_date).days
        # not paid before as_of: paid on as_of or later, so at least `past_due` days late
        still = [days for days in samples(r.customer_id) if days >= past_due]
        line = (
            Line.DISPUTED
            if r.disputed
            else Line.DOUBTFUL
            if past_due > inputs.doubtful_after_days
            else Line.OVERDUE
            if not still and past_due > 0
            else None
        )
        if line is not None:
            receipts.append(
                ExpectedReceipt(
                    Source.RECEIVABLES, r.invoice_number, r.customer_id, r.currency, r.due_date,
                    round2(r.open_amount), ONE, line,
                )
            )  # fmt: skip
            continue
        # not due yet and earlier than every sample (an early payer that has not paid): on the due date
        spread(
            Source.RECEIVABLES, r.invoice_number, r.customer_id, r.currency, round2(r.open_amount), ONE,
            max(r.issue_date, as_of), r.due_date, still or [0],
        )  # fmt: skip
    for s in inputs.scheduled:
        _check(s.reference, s.amount, terms=s.payment_terms_days)
        billed = max(s.bill_date, as_of)
        spread(
            Source.SCHEDULED_BILLING, s.reference, s.customer_id, s.currency, round2(s.amount), ONE,
            billed, billed + timedelta(days=s.payment_terms_days), samples(s.customer_id),
        )  # fmt: skip
    for m in inputs.milestones:
        weight = inputs.milestone_likelihood if m.likelihood is None else m.likelihood
        _check(m.reference, m.amount, weight, m.payment_terms_days)
        billed = max(m.planned_date, as_of)
        spread(
            Source.MILESTONES, m.reference, m.customer_id, m.currency, round2(m.amount * weight), weight,
            billed, billed + timedelta(days=m.payment_terms_days), samples(m.customer_id),
        )  # fmt: skip
    for d in inputs.pipeline:
        _check(f"deal {d.deal_id}", d.amount, d.probability, d.payment_terms_days)
        billed = max(d.close_date, as_of)
        spread(
            Source.PIPELINE, d.deal_id, d.customer_id, d.currency, round2(d.amount * d.probability), d.probability,
            billed, billed + timedelta(days=d.payment_terms_days), samples(d.customer_id),
        )  # fmt: skip
    medians = {c: mid for c, late in own.items() if (mid := median_days(late)) is not None}
    return Forecast(
        as_of=as_of,
        first_week=first,
        currencies=_buckets(first, receipts),
        receipts=tuple(sorted(receipts, key=lambda e: (e.currency, e.expected_on, e.source, e.reference))),
        portfolio_days_late=median_days(portfolio),
        customer_days_late=dict(sorted(medians.items())),
        milestone_likelihood=inputs.milestone_likelihood,
        doubtful_after_days=inputs.doubtful_after_days,
    )


def _buckets(first: date, receipts: Sequence[ExpectedReceipt]) -> tuple[CurrencyForecast, ...]:
    out = []
    for currency in sorted({e.currency for e in receipts}):
        weeks = [{s: NONE for s in Source} for _ in range(WEEKS)]
        lines = dict.fromkeys(Line, NONE)
        beyond = NONE
        for e in receipts:
            if e.currency != currency:
                continue
            index = (e.expected_on - first).days // 7
            if e.line is not None:
                lines[e.line] += e.amount
            elif index >= WEEKS:
                beyond += e.amount
            else:
                weeks[index][e.source] += e.amount
        out.append(
            CurrencyForecast(
                currency,
                lines[Line.OVERDUE],
                tuple(Week(first + timedelta(weeks=k), amounts) for k, amounts in enumerate(weeks)),
                beyond,
                lines[Line.DISPUTED],
                lines[Line.DOUBTFUL],
            )
        )
    return tuple(out)
