"""The billing schedule of a contract version: what each line bills, when, and what is due on a day.

`plan` turns every line's `BillingRule` into `ScheduleItem`s, each keyed within its line by a
`period_key` that never changes, so that the billing run can bill a (line, period) exactly once:

- one_time: one item "once", billed on `bill_on` (or the contract's billing_start).
- recurring: one item per period, keyed by the period's ISO start date. Periods run from the
  line's start (`start`, or billing_start) in steps of the frequency's months, each computed from
  the anchor (start + n months, the day clamped to the month's end: 2027-01-31, 2027-02-28,
  2027-03-31, ...), never cumulatively, so they do not drift. The line ends at `coterm_to`, else
  `end`; an auto-renewing line renews in terms of `renewal_months` after its first term (which
  ends at `end`, or `renewal_months` after the start) and ends at the end of the term in which
  notice was given in time (`notice_given_on` at least `notice_days` before the term's end: late
  notice ends it a term later); without notice its terms are planned through the `through` date
  (every term that starts on or before it). In advance an item bills on its period's start, in
  arrears on its period's end (the first day after it). The unit price of a period is that of the
  last ramp step starting on or before the period's start (the line's unit_price before any).
- milestone: one item "milestone:<key>" per milestone, billed once the milestone is accepted: a
  percent of quantity x unit_price or a fixed amount, in cents by largest remainder (`_shares`) so
  the milestones add up to the line's value exactly and none goes negative.
- time_and_materials and usage: nothing here; their items come from recorded time and usage.

Proration: a partial period (the last one, ended early by the line's end or co-terming) is billed
at the full-period amount x (days in the partial period / days in the full calendar period it
belongs to), rounded half-up to cents: 17 days of a 31-day month at 100.00 bill 54.84.

Amounts: `gross` is quantity x unit_price (prorated) rounded to cents; `discount` is the line's
discount taken off it (EN 16931 line allowance BG-27, BT-136): a percentage of `gross`, or an
amount per full period (prorated like the period; shared over milestones in proportion);
`amount` = gross - discount is the item's net (BT-131), rounded to cents (ROUND_HALF_UP).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

from handoff.contracts.domain.model import (
    BillingKind,
    ContractError,
    ContractLine,
    ContractVersion,
    Timing,
    add_months,
    line_total,
    validate,
)
from handoff.invoicing.domain.allowances import Discount, parse_discount
from handoff.kernel.money import CENT, ZERO, round2

ONE = Decimal(1)
HUNDRED = Decimal(100)
DAY = timedelta(days=1)
_LAST_YEAR = 9000  # auto-renewal terms are not planned beyond this year

# ScheduleItem.trigger values
TRIGGER_DATE = "date"
TRIGGER_MILESTONE = "milestone"
TRIGGER_TIME = "time"
TRIGGER_USAGE = "usage"
TRIGGER_CHANGE_ORDER = "change_order"

ONCE = "once"  # the period_key of a one-time line's item
MILESTONE_PREFIX = "milestone:"  # + the milestone's key


@dataclass(frozen=True, slots=True)
class ScheduleItem:
    """One billable piece of a contract line; (line_key, period_key) is unique within a contract."""

    contract_id: str
    line_key: str
    period_key: str  # "once", ISO period start "2027-01-01", "milestone:<key>", "adjust:<order>:<period_key>"
    period_start: date  # [start, end), end exclusive; one_time: the bill day, +1; milestone: billing_start, +1
    period_end: date
    bill_date: date | None  # in advance: period_start; in arrears: period_end; milestone: None (see `due`)
    amount: Decimal  # net = gross - discount, in cents; negative for a credit adjustment
    quantity: Decimal
    unit_price: Decimal  # the period's unit price (ramp applied); a milestone: its gross, quantity 1
    description: str
    trigger: str  # "date" | "milestone" | "time" | "usage" | "change_order"
    gross: Decimal = ZERO  # quantity x unit_price (prorated), rounded to cents
    discount: Decimal = ZERO  # the line allowance taken off gross (BT-136)
    days: int = 0  # recurring: the days billed ...
    period_days: int = 0  # ... of the full period's days (equal unless prorated)

    @property
    def key(self) -> tuple[str, str]:
        """(line_key, period_key): the exactly-once key of the billing run."""
        return (self.line_key, self.period_key)

    @property
    def milestone_key(self) -> str:
        """The milestone a milestone item bills ("" for others)."""
        return self.period_key.removeprefix(MILESTONE_PREFIX) if self.trigger == TRIGGER_MILESTONE else ""

    @property
    def prorated(self) -> bool:
        return self.days != self.period_days


def prorate(amount: Decimal, days: int, period_days: int) -> Decimal:
    """`amount` x days / period_days, rounded half-up to cents (the whole amount when not partial)."""
    if days == period_days:
        return round2(amount)
    return round2(amount * days / period_days)


def line_start(version: ContractVersion, line: ContractLine) -> date:
    """The first day a recurring line bills: its rule's start, or the contract's billing_start."""
    return line.rule.start or version.terms.billing_start


def line_end(version: ContractVersion, line: ContractLine, through: date | None = None) -> date:
    """The first day a recurring line no longer bills (see the module docstring on auto-renewal);
    ContractError if the line renews without notice and no `through` date bounds it."""
    rule = line.rule
    if rule.coterm_to is not None:
        return rule.coterm_to
    if not rule.auto_renew:
        if rule.end is None:
            raise ContractError.at(version.contract_id, "end", "is missing", line=line.key)
        return rule.end
    first_end = rule.end or add_months(line_start(version, line), rule.renewal_months)
    if rule.notice_given_on is None and through is None:
        raise ContractError.at(
            version.contract_id,
            "through",
            "is required: the line renews automatically and has no notice",
            line=line.key,
        )
    term = 0
    while True:
        if first_end.year + term * rule.renewal_months // 12 > _LAST_YEAR:
            raise ContractError.at(
                version.contract_id,
                "notice_given_on" if through is None else "through",
                "is too far ahead",
                line=line.key,
            )
        term_end = add_months(first_end, term * rule.renewal_months)
        if rule.notice_given_on is not None:
            if rule.notice_given_on <= term_end - timedelta(days=rule.notice_days):
                return term_end
        elif through is not None and term_end > through:
            return term_end
        term += 1


def plan(version: ContractVersion, through: date | None = None) -> tuple[ScheduleItem, ...]:
    """Every item of the contract's life, line by line, in period order; auto-renewing lines
    without notice through `through` (required then). Validates the version first."""
    validate(version)
    items: list[ScheduleItem] = []
    for line in version.lines:
        kind = line.rule.kind
        if kind is BillingKind.ONE_TIME:
            items.append(_one_time(version, line))
        elif kind is BillingKind.RECURRING:
            items.extend(_recurring(version, line, through))
        elif kind is BillingKind.MILESTONE:
            items.extend(_milestones(version, line))
        # time_and_materials and usage: billed from recorded time and usage, not planned here
    return tuple(items)


def due(
    items: Iterable[ScheduleItem], on: date, billed: AbstractSet[tuple[str, str]], accepted: Mapping[str, date]
) -> list[ScheduleItem]:
    """The items to bill on `on`, in the order given: those with a bill_date on or before `on`
    (trigger "date", and "change_order"/"time"/"usage" items that carry one), plus milestone
    items whose milestone was accepted on or before `on` (`accepted`: milestone key -> date; the
    item is returned with bill_date = that date), minus the (line_key, period_key) in `billed`.
    Each key is returned once even if `items` repeats it. `items` are one contract's (the keys
    carry no contract id)."""
    result: list[ScheduleItem] = []
    seen = set(billed)
    for item in items:
        if item.key in seen:
            continue
        if item.trigger == TRIGGER_MILESTONE:
            accepted_on = accepted.get(item.milestone_key)
            if accepted_on is None or accepted_on > on:
                continue
            result.append(replace(item, bill_date=accepted_on))
        elif item.bill_date is not None and item.bill_date <= on:
            result.append(item)
        else:
            continue
        seen.add(item.key)
    return result


def contract_value(version: ContractVersion, through: date | None = None) -> Decimal:
    """The sum of the planned items' amounts (time and materials and usage excluded)."""
    return sum((item.amount for item in plan(version, through)), ZERO)


# ---- the lines' items ----


def _discount_of(gross: Decimal, discount: Discount | None, days: int = 1, period_days: int = 1) -> Decimal:
    """The allowance on an item of `gross`: a percentage of it, or the amount prorated."""
    if discount is None or discount.is_zero:
        return ZERO
    if discount.percentage is not None:
        return discount.of(gross)
    return min(prorate(discount.amount or ZERO, days, period_days), gross)


def _one_time(version: ContractVersion, line: ContractLine) -> ScheduleItem:
    bill_on = line.rule.bill_on or version.terms.billing_start
    gross = round2(line.quantity * line.unit_price)
    discount = _discount_of(gross, parse_discount(line.discount))
    return ScheduleItem(
        contract_id=version.contract_id,
        line_key=line.key,
        period_key=ONCE,
        period_start=bill_on,
        period_end=bill_on + DAY,
        bill_date=bill_on,
        amount=gross - discount,
        quantity=line.quantity,
        unit_price=line.unit_price,
        description=line.description,
        trigger=TRIGGER_DATE,
        gross=gross,
        discount=discount,
    )


def _periods(start: date, end: date, months: int) -> Iterator[tuple[date, date, date]]:
    """(period start, period end, full period end) from `start` until `end`, anchored on `start`."""
    n = 0
    while True:
        period_start = add_months(start, n * months)
        if period_start >= end:
            return
        full_end = add_months(start, (n + 1) * months)
        yield period_start, min(full_end, end), full_end
        n += 1


def _price_on(line: ContractLine, day: date) -> Decimal:
    price = line.unit_price
    for step in line.rule.ramp:
        if step.starts <= day:
            price = step.unit_price
    return price


def _recurring(version: ContractVersion, line: ContractLine, through: date | None) -> list[ScheduleItem]:
    rule = line.rule
    assert rule.frequency is not None  # validate() refuses a recurring line without one
    start, end = line_start(version, line), line_end(version, line, through)
    discount = parse_discount(line.discount)
    items = []
    for period_start, period_end, full_end in _periods(start, end, rule.frequency.months):
        days, period_days = (period_end - period_start).days, (full_end - period_start).days
        price = _price_on(line, period_start)
        gross = prorate(line.quantity * price, days, period_days)
        allowance = _discount_of(gross, discount, days, period_days)
        last_day = period_end - DAY
        description = f"{line.description}, {period_start.isoformat()} to {last_day.isoformat()}"
        if days != period_days:
            description += f" ({days}/{period_days} days)"
        items.append(
            ScheduleItem(
                contract_id=version.contract_id,
                line_key=line.key,
                period_key=period_start.isoformat(),
                period_start=period_start,
                period_end=period_end,
                bill_date=period_start if rule.timing is Timing.IN_ADVANCE else period_end,
                amount=gross - allowance,
                quantity=line.quantity,
                unit_price=price,
                description=description,
                trigger=TRIGGER_DATE,
                gross=gross,
                discount=allowance,
                days=days,
                period_days=period_days,
            )
        )
    return items


def _shares(total: Decimal, parts: list[Decimal]) -> list[Decimal]:
    """`parts` (adding up to `total`) in cents adding up to round2(total), by largest remainder:
    each share is its part rounded down to the cent, and the cents left go one each to the parts
    with the largest remainders (the first on a tie). So no share is below its part rounded down
    nor above it rounded up: a small part never turns negative, as giving the last part whatever
    rounding left over could make it."""
    floors = [part.quantize(CENT, ROUND_FLOOR) for part in parts]
    left = int((round2(total) - sum(floors, ZERO)) / CENT)
    if not 0 <= left <= len(parts):  # the parts do not add up to the total: keep them rounded
        return [round2(part) for part in parts]
    for index in sorted(range(len(parts)), key=lambda i: parts[i] - floors[i], reverse=True)[:left]:
        floors[index] += CENT
    return floors


def _milestones(version: ContractVersion, line: ContractLine) -> list[ScheduleItem]:
    total = line_total(line)
    milestones = line.rule.milestones
    grosses = _shares(
        total, [m.amount if m.amount is not None else total * (m.percent or ZERO) / HUNDRED for m in milestones]
    )
    discount = parse_discount(line.discount)
    if discount is None or discount.is_zero:
        allowances = [ZERO] * len(grosses)
    elif discount.percentage is not None:
        allowances = [discount.of(gross) for gross in grosses]
    else:
        whole = discount.amount or ZERO
        base = round2(total)
        allowances = _shares(whole, [whole * gross / base if base else ZERO for gross in grosses])
    day = version.terms.billing_start
    return [
        ScheduleItem(
            contract_id=version.contract_id,
            line_key=line.key,
            period_key=MILESTONE_PREFIX + milestone.key,
            period_start=day,
            period_end=day + DAY,
            bill_date=None,
            amount=gross - allowance,
            quantity=ONE,
            unit_price=gross,
            description=f"{line.description}: {milestone.name or milestone.key}",
            trigger=TRIGGER_MILESTONE,
            gross=gross,
            discount=allowance,
        )
        for milestone, gross, allowance in zip(milestones, grosses, allowances, strict=True)
    ]
