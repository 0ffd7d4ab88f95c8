"""A deal line's billing terms: how a line sold on a closed-won deal is billed, read from text.

A deal line may say how it is billed (`orders.BILLING_LINE_FIELDS`): `billing` (one_time,
recurring, milestone, time_and_materials, usage; empty: once, with the deal), and for a recurring
line `frequency` (monthly, quarterly, annual), `timing` (in_advance, in_arrears), `start` (an ISO
date, or an ISO 8601 duration after the contract's billing start such as `P30D`, as CRMs state a
billing start delay; on a one-time line: the day it bills), its end as `end` (ISO date,
exclusive), `term` (ISO 8601 `P12M` / `P2Y`, or months) or `periods` (a count of periods of its
frequency), `ramp` (`2028-01-01=12000; 2029-01-01=15000`: the unit price per period from that
day on), `auto_renew` and `notice_days`; a milestone line its `milestones` (`design=30%;
go-live=70%`, or amounts). `unit_code` is a UN/ECE Recommendation 20 code for any line.

Each value is parsed here once, in the contract model's own types (`contracts.domain.model`):
readiness reports a value that does not parse as a problem on `lines[N].<field>`
(`term_problems`), and the quote lock (`contracts.domain.quote`) reads the parsed terms of a deal
that passed readiness (`line_terms`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from handoff.contracts.domain.model import BillingKind, Frequency, Milestone, RampStep, Timing, add_months
from handoff.contracts.domain.unit_codes import REC20_CODES
from handoff.deals.domain.orders import FALSE_WORDS, ONE_TIME_WORDS, TRUE_WORDS, DealInput, LineInput
from handoff.kernel.money import ZERO, D, MoneyError

HUNDRED = Decimal("100")
# lines whose amount on the deal is no price x quantity billed once (per period, per hour, per use)
BILLED_OVER_TIME = frozenset({BillingKind.RECURRING, BillingKind.TIME_AND_MATERIALS, BillingKind.USAGE})


class TermsError(ValueError):
    """A billing term that cannot be read; the message says what was expected."""


def _word(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


_KINDS: dict[str, BillingKind] = {
    **{_word(w): BillingKind.ONE_TIME for w in ONE_TIME_WORDS if w},
    **{k.value: k for k in BillingKind},
    "subscription": BillingKind.RECURRING,
    "time_and_material": BillingKind.TIME_AND_MATERIALS,
    "t&m": BillingKind.TIME_AND_MATERIALS,
    "metered": BillingKind.USAGE,
}
_FREQUENCIES: dict[str, Frequency] = {
    **{f.value: f for f in Frequency},
    "month": Frequency.MONTHLY,
    "quarter": Frequency.QUARTERLY,
    "annually": Frequency.ANNUAL,
    "yearly": Frequency.ANNUAL,
    "year": Frequency.ANNUAL,
}
_TIMINGS: dict[str, Timing] = {
    **{t.value: t for t in Timing},
    "advance": Timing.IN_ADVANCE,
    "arrears": Timing.IN_ARREARS,
}
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


def kind(text: str) -> BillingKind:
    """The billing kind a line's `billing` names (empty: one_time)."""
    found = _KINDS.get(_word(text)) if text.strip() else BillingKind.ONE_TIME
    if found is None:
        raise TermsError(f"billing {text!r} is not one of {', '.join(k.value for k in BillingKind)}")
    return found


def billed_over_time(line: LineInput) -> bool:
    """Whether the line is billed per period, per hour or per use (False for a `billing` that
    cannot be read: its own problem says so)."""
    if line.is_one_time:
        return False
    found = _KINDS.get(_word(line.billing))
    return found is not None and found in BILLED_OVER_TIME


def frequency(text: str) -> Frequency:
    found = _FREQUENCIES.get(_word(text))
    if found is None:
        raise TermsError(f"frequency {text!r} is not one of monthly, quarterly, annual")
    return found


def timing(text: str) -> Timing:
    """in_advance when not given."""
    found = _TIMINGS.get(_word(text)) if text.strip() else Timing.IN_ADVANCE
    if found is None:
        raise TermsError(f"timing {text!r} is not one of in_advance, in_arrears")
    return found


def day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise TermsError(f"{name} {text!r} is not an ISO date (YYYY-MM-DD)") from None


def duration(text: str, name: str) -> tuple[int, int]:
    """(months, days) of an ISO 8601 duration in years, months, weeks and days (`P1Y6M`, `P30D`)."""
    match = _DURATION.match(text.strip().upper())
    if match is None or text.strip().upper() == "P":
        raise TermsError(f"{name} {text!r} is not an ISO 8601 duration such as P30D, P3M or P1Y")
    years, months, weeks, days = (int(g or 0) for g in match.groups())
    return years * 12 + months, weeks * 7 + days


@dataclass(frozen=True, slots=True)
class Start:
    """A recurring line's first billed day: a date, or `months` and `days` after billing start."""

    on: date | None = None
    months: int = 0
    days: int = 0

    def resolve(self, billing_start: date) -> date:
        if self.on is not None:
            return self.on
        return date.fromordinal(add_months(billing_start, self.months).toordinal() + self.days)


def start(text: str) -> Start:
    if text.strip().upper().startswith("P"):
        months, days = duration(text, "start")
        return Start(None, months, days)
    return Start(day(text, "start"))


def count(text: str, name: str, minimum: int) -> int:
    value = text.strip()
    try:
        number = D(value)
    except MoneyError:
        number = None
    if number is None or number != number.to_integral_value() or number < minimum or number > 100_000:
        raise TermsError(f"{name} {text!r} is not a whole number from {minimum} up")
    return int(number)


def term(text: str) -> int:
    """A recurring line's length in months: `P12M`, `P2Y` or `12`."""
    if text.strip().upper().startswith("P"):
        months, days = duration(text, "term")
        if days or not months:
            raise TermsError(f"term {text!r} must be whole months or years (P12M, P2Y)")
        return months
    return count(text, "term", 1)


def flag(text: str, name: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise TermsError(f"{name} {text!r} is not a yes/no value")


def _parts(text: str) -> Iterator[tuple[str, str]]:
    for part in re.split(r"[;\n]", text):
        if part.strip():
            left, sep, right = part.partition("=")
            if not sep:
                raise TermsError(f"{part.strip()!r} is not `name=value`")
            yield left.strip(), right.strip()


def _number(text: str, what: str) -> Decimal:
    try:
        number = D(text)
    except MoneyError:
        raise TermsError(f"{what} {text!r} is not a number") from None
    if number < ZERO:
        raise TermsError(f"{what} {text!r} is negative")
    return number


def ramp(text: str) -> tuple[RampStep, ...]:
    """`2028-01-01=12000; 2029-01-01=15000`: the unit price per period from each day on, in order."""
    steps: list[RampStep] = []
    try:
        for starts, price in _parts(text):
            step = RampStep(day(starts, "ramp step"), _number(price, f"ramp price of {starts}"))
            if steps and step.starts <= steps[-1].starts:
                raise TermsError(f"ramp step {starts} is not after {steps[-1].starts.isoformat()}")
            steps.append(step)
    except TermsError as exc:
        raise TermsError(f"ramp: {exc} (write `2028-01-01=12000; 2029-01-01=15000`)") from None
    return tuple(steps)


def milestone_key(name: str) -> str:
    """The key a milestone is accepted by: its name in lower case, words joined by `-`."""
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))


def milestones(text: str, total: Decimal | None = None) -> tuple[Milestone, ...]:
    """`design=30%; go-live=70%` (percentages of the line's quantity x unit price) or amounts
    (`design=3000`); together they must make the whole line (100 %, or `total` when given)."""
    found: list[Milestone] = []
    try:
        for name, value in _parts(text):
            key = milestone_key(name)
            if not key:
                raise TermsError(f"milestone {name!r} has no name")
            if any(m.key == key for m in found):
                raise TermsError(f"milestone {name!r} is named twice")
            if value.endswith("%"):
                percent = _number(value[:-1].strip(), f"milestone {name}")
                if not ZERO < percent <= HUNDRED:
                    raise TermsError(f"milestone {name} {value} is not above 0 % and at most 100 %")
                found.append(Milestone(key, name, percent=percent))
            else:
                amount = _number(value, f"milestone {name}")
                if amount <= ZERO:
                    raise TermsError(f"milestone {name} {value} is not above 0")
                found.append(Milestone(key, name, amount=amount))
        if not found:
            raise TermsError("no milestone given")
    except TermsError as exc:
        raise TermsError(f"milestones: {exc} (write `design=30%; go-live=70%` or amounts)") from None
    amounts = sum((m.amount for m in found if m.amount is not None), ZERO)
    percents = sum((m.percent for m in found if m.percent is not None), ZERO)
    if amounts == ZERO:
        if percents != HUNDRED:
            raise TermsError(f"milestones add up to {percents} %, not 100 %")
    elif total is not None and amounts + total * percents / HUNDRED != total:
        said = f"{amounts}" + (f" + {percents} %" if percents else "")
        raise TermsError(f"milestones add up to {said}, not the line's {total}")
    return tuple(found)


def unit_code(text: str) -> str:
    """A UN/ECE Rec 20 code (C62 when not given)."""
    code = text.strip().upper() or "C62"
    if code not in REC20_CODES:
        raise TermsError(f"unit_code {text!r} is not a UN/ECE Recommendation 20 code (C62, HUR, DAY, MON, ...)")
    return code


@dataclass(frozen=True, slots=True)
class LineTerms:
    """A line's billing terms, parsed. `end` / `term_months` / `periods`: whichever was given."""

    kind: BillingKind
    frequency: Frequency | None = None
    timing: Timing = Timing.IN_ADVANCE
    start: Start | None = None
    end: date | None = None
    term_months: int | None = None
    periods: int | None = None
    ramp: tuple[RampStep, ...] = ()
    milestones: tuple[Milestone, ...] = ()
    auto_renew: bool = False
    notice_days: int = 0
    unit_code: str = "C62"


def _total(line: LineInput) -> Decimal | None:
    try:
        return D(line.quantity.strip() or "1") * D(line.unit_price)
    except MoneyError:
        return None


# What only a recurring line has: given on another line, a problem (the line would bill other
# than the CRM says). `timing`, `periods`, `auto_renew` and `notice_days` mean nothing without a
# frequency and are not judged there (a CRM may state them on every line, as Pipedrive's cycles).
_RECURRING_ONLY = ("frequency", "end", "term", "ramp")


def line_terms(line: LineInput) -> LineTerms:
    """The line's terms; TermsError for the first value that cannot be read (readiness reports
    each as `term_problems` does, so a deal that passed readiness reads without error)."""
    problems = term_problems(line)
    if problems:
        raise TermsError(problems[0].message)
    return _read(line)


def _read(line: LineInput) -> LineTerms:
    billing = kind(line.billing)
    if billing is not BillingKind.RECURRING:
        return LineTerms(
            billing,
            start=start(line.start) if line.start.strip() and billing is BillingKind.ONE_TIME else None,
            milestones=milestones(line.milestones, _total(line)) if line.milestones.strip() else (),
            unit_code=unit_code(line.unit_code),
        )
    return LineTerms(
        billing,
        frequency=frequency(line.frequency) if line.frequency.strip() else None,
        timing=timing(line.timing),
        start=start(line.start) if line.start.strip() else None,
        end=day(line.end, "end") if line.end.strip() else None,
        term_months=term(line.term) if line.term.strip() else None,
        periods=count(line.periods, "periods", 1) if line.periods.strip() else None,
        ramp=ramp(line.ramp) if line.ramp.strip() else (),
        auto_renew=flag(line.auto_renew, "auto_renew"),
        notice_days=count(line.notice_days, "notice_days", 0) if line.notice_days.strip() else 0,
        unit_code=unit_code(line.unit_code),
    )


def is_contract_deal(deal: DealInput, closed_on: date | None = None) -> bool:
    """Whether the deal is billed as a contract rather than invoiced once on closing: a line billed
    other than once, or a deal-level `billing_start` after its close date (`closed_on` when the
    deal states none). Cheap for a plain deal; a value that cannot be read counts as not given."""
    for ln in deal.lines:
        if ln.billing and not ln.is_one_time:
            return True
    text = deal.get("billing_start")
    if not text:
        return False
    try:
        begins = date.fromisoformat(text)
        closed = date.fromisoformat(deal.get("close_date")[:10]) if deal.get("close_date") else closed_on
    except ValueError:
        return False
    return closed is not None and begins > closed


@dataclass(frozen=True, slots=True)
class TermProblem:
    """What is wrong with one billing term of a line: `field` (a line field), `missing` or not."""

    field: str
    message: str
    missing: bool = False


def term_problems(line: LineInput) -> list[TermProblem]:
    """Every billing term of the line that cannot be read or does not fit the line's kind; for a
    recurring line a missing frequency, or no end (`end`, `term`, `periods` or `auto_renew`)."""
    problems: list[TermProblem] = []

    def read(name: str, parse: Callable[[str], object]) -> object:
        text = line.get(name)
        if not text.strip():
            return None
        try:
            return parse(text)
        except TermsError as exc:
            problems.append(TermProblem(name, str(exc)))
            return None

    try:
        billing = kind(line.billing)
    except TermsError as exc:
        return [TermProblem("billing", str(exc))]
    read("unit_code", unit_code)
    if billing is not BillingKind.RECURRING:
        for name in _RECURRING_ONLY:
            if line.get(name).strip():
                problems.append(TermProblem(name, f"{name} applies to recurring lines only, not {billing}"))
    if billing is BillingKind.ONE_TIME:
        read("start", start)
    elif billing is not BillingKind.RECURRING and line.start.strip():
        problems.append(TermProblem("start", f"start applies to recurring and one-time lines only, not {billing}"))
    if billing is not BillingKind.MILESTONE and line.milestones.strip():
        problems.append(TermProblem("milestones", f"milestones apply to milestone lines only, not {billing}"))
    if billing is BillingKind.MILESTONE:
        if not line.milestones.strip():
            problems.append(TermProblem("milestones", "milestones are missing: a milestone line needs them", True))
        else:
            read("milestones", lambda t: milestones(t, _total(line)))
    if billing is not BillingKind.RECURRING:
        return problems
    if not line.frequency.strip():
        problems.append(TermProblem("frequency", "frequency is missing: monthly, quarterly or annual", True))
    read("frequency", frequency)
    read("timing", timing)
    first = read("start", start)
    end = read("end", lambda t: day(t, "end"))
    read("term", term)
    read("periods", lambda t: count(t, "periods", 1))
    read("ramp", ramp)
    renews = read("auto_renew", lambda t: flag(t, "auto_renew"))
    read("notice_days", lambda t: count(t, "notice_days", 0))
    given = [name for name in ("end", "term", "periods") if line.get(name).strip()]
    if len(given) > 1:
        problems.append(TermProblem(given[1], f"give one of end, term and periods, not {' and '.join(given)}"))
    if not given and renews is not True and not any(p.field == "auto_renew" for p in problems):
        problems.append(
            TermProblem("end", "end is missing: a recurring line needs an end, a term, periods or auto_renew", True)
        )
    if isinstance(first, Start) and first.on is not None and isinstance(end, date) and end <= first.on:
        problems.append(TermProblem("end", f"end {end.isoformat()} is not after the start {first.on.isoformat()}"))
    return problems
