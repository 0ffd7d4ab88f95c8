"""The schedule after a change order: what replaces the pending items, and the adjustments of
periods the change touches (`handoff.contracts.domain.change_orders` makes the versions).

Replanning (`replan(old, new, billed)`): periods already invoiced are never edited, only adjusted.
The value of a period is that of its days, each at the version in force that day: the days of a
period under one version are valued as a prorated item (amount of the full period x days / days
of the full calendar period, with the line's discount, rounded half-up to cents, exactly the
plan's amount when they are the whole item). A one-time line's item belongs to its bill day; a
milestone belongs to no day: it bills at the version current when it is billed, and a billed
milestone is final. So when version `old` (in force from its effective date, version 1 from the
beginning) gives way to `new` on day E, a period changes value by
    value(old, days before E) + value(new, days from E) - value(old, all its days)
and `replan` returns
1. the new version's items not billed yet whose period reaches E (ends after E) or that are
   milestones: they replace the pending items of the old schedule that `replaced_by_change` says
   are replaced; pending items of periods that end on or before E stay as planned (their days
   are the old version's). In a schedule billed up to the day before E these are the new items
   billing on or after E, but for an in-arrears period ending on E, which stays at the old
   terms; items left unbilled from before E whose period reaches E are returned too;
2. one adjustment item for each period whose value changes and that is billed, or whose pending
   item stays or is replaced by one not worth exactly its new value (an unbilled period reaching
   back before E, such as an in-arrears period running across E: it bills at the new terms and
   the adjustment restores the old terms for its days before E). Key
   "adjust:<change order>:<period_key>", trigger "change_order", bill date E, amount the change in
   value (negative: a credit), quantity 1. Adjustments are never replaced by later change orders.
An upsell from 10 to 15 units on an annual-in-advance line in mid-year thus debits 5 x price x
remaining days / days of the year (to the cent: each part of the year is rounded once, so the
year bills exactly its days at 10 plus its days at 15); a termination credits the unused days;
a price change on a monthly in-arrears line effective on a period's first day changes nothing
billed or pending before it: the periods from then on carry the new price, no adjustment.
Summed over a contract's life, the items and adjustments billed equal each day billed at the
version in force that day (tests/unit/contracts/test_change_order_properties.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, timedelta
from decimal import Decimal

from handoff.contracts.domain.model import ContractError, ContractVersion
from handoff.contracts.domain.schedule import (
    ONCE,
    TRIGGER_CHANGE_ORDER,
    TRIGGER_DATE,
    TRIGGER_MILESTONE,
    ScheduleItem,
    plan,
    prorate,
)
from handoff.invoicing.domain.allowances import Discount, parse_discount
from handoff.kernel.money import ZERO

ADJUST_PREFIX = "adjust:"  # + "<change order key>:<period_key>"
ONE = Decimal(1)
DAY = timedelta(days=1)


def replaced_by_change(item: ScheduleItem, effective: date) -> bool:
    """Whether `replan` replaces this pending (unbilled) item of the old schedule: a dated item
    whose period ends after `effective`, or a milestone. Others stay as planned: periods ending
    on or before it, and adjustments, time and usage items."""
    if item.trigger == TRIGGER_MILESTONE:
        return True
    return item.trigger == TRIGGER_DATE and item.period_end > effective


def _horizon(effective: date, billed: Collection[tuple[str, str]], through: date | None) -> date:
    if through is not None:
        return through
    days = [effective]
    for _, period_key in billed:
        try:
            days.append(date.fromisoformat(period_key))
        except ValueError:
            continue
    return max(days)


def _allowance(gross: Decimal, discount: Discount | None, days: int, period_days: int) -> Decimal:
    if discount is None or discount.is_zero:
        return ZERO
    if discount.percentage is not None:
        return discount.of(gross)
    return min(prorate(discount.amount or ZERO, days, period_days), gross)


def _value(item: ScheduleItem | None, discounts: Mapping[str, Discount | None], start: date, end: date) -> Decimal:
    """The value of the item's days in [start, end): the whole amount, or a prorated part."""
    if item is None or item.trigger != TRIGGER_DATE:
        return ZERO
    low, high = max(start, item.period_start), min(end, item.period_end)
    if high <= low:
        return ZERO
    days = (high - low).days
    if item.period_key == ONCE or days == (item.period_end - item.period_start).days:
        return item.amount
    gross = prorate(item.quantity * item.unit_price, days, item.period_days)
    return gross - _allowance(gross, discounts.get(item.line_key), days, item.period_days)


def replan(
    old: ContractVersion,
    new: ContractVersion,
    billed: Collection[tuple[str, str]],
    through: date | None = None,
) -> tuple[list[ScheduleItem], list[ScheduleItem]]:
    """(the new version's items replacing the pending ones, the adjustment items) when `new`
    follows `old` (see the module docstring). `billed`: the (line_key, period_key) billed so far
    (a Mapping to the billed items will do); `through`: the horizon the schedule is planned to
    (auto-renewing lines), the same for both versions; without it, the effective date or the
    latest billed period.

    The caller then drops the pending (unbilled) items of the old schedule for which
    `replaced_by_change(item, new.effective)` is true, keeps the others, and adds the future
    items and the adjustments (their keys are new); adjustments, once planned, are never dropped."""
    if new.contract_id != old.contract_id or new.version != old.version + 1:
        raise ContractError.at(
            new.contract_id,
            "version",
            f"{new.version} of {new.contract_id} does not follow {old.contract_id} v{old.version}",
        )
    effective, order = new.effective, new.change_order
    horizon = _horizon(effective, billed, through)
    old_plan, new_plan = plan(old, horizon), plan(new, horizon)
    old_items = {item.key: item for item in old_plan}
    new_items = {item.key: item for item in new_plan}
    # a pending item of the old schedule that stays (it is not replaced)
    kept = {key for key, item in old_items.items() if key not in billed and not replaced_by_change(item, effective)}
    future = [item for item in new_plan if item.key not in billed and item.key not in kept]
    old_discounts = {line.key: parse_discount(line.discount) for line in old.lines}
    new_discounts = {line.key: parse_discount(line.discount) for line in new.lines}
    descriptions = {line.key: line.description for line in (*old.lines, *new.lines)}
    since = date.min if old.version == 1 else old.effective
    adjustments: list[ScheduleItem] = []
    for key in dict.fromkeys([*old_items, *new_items]):
        before, after = old_items.get(key), new_items.get(key)
        ref = after or before
        assert ref is not None
        if ref.trigger != TRIGGER_DATE:
            continue  # milestones: billed ones are final, pending ones replaced
        change = (
            _value(before, old_discounts, since, effective)
            + _value(after, new_discounts, effective, date.max)
            - _value(before, old_discounts, since, date.max)
        )
        if key not in billed and key not in kept:
            # the pending item changes from the old one to the new one (or to none)
            change += (before.amount if before else ZERO) - (after.amount if after else ZERO)
        if change:
            adjustments.append(
                _adjustment(new.contract_id, order, effective, before, after, change, key in billed, descriptions)
            )
    return future, adjustments


def _adjustment(
    contract_id: str,
    order: str,
    effective: date,
    before: ScheduleItem | None,
    after: ScheduleItem | None,
    amount: Decimal,
    billed: bool,
    descriptions: Mapping[str, str],
) -> ScheduleItem:
    items = [item for item in (before, after) if item is not None]
    ref = items[-1]
    first = min(item.period_start for item in items)
    end = max(item.period_end for item in items)
    start = max(effective, first) if billed else first
    if start >= end:
        start = first
    days = (end - start).days
    last = end - DAY
    return ScheduleItem(
        contract_id=contract_id,
        line_key=ref.line_key,
        period_key=f"{ADJUST_PREFIX}{order}:{ref.period_key}",
        period_start=start,
        period_end=end,
        bill_date=effective,
        amount=amount,
        quantity=ONE,
        unit_price=amount,
        description=f"{descriptions.get(ref.line_key, ref.description)}, {start.isoformat()} to {last.isoformat()}: "
        f"change order {order}",
        trigger=TRIGGER_CHANGE_ORDER,
        gross=amount,
        discount=ZERO,
        days=days,
        period_days=max(ref.period_days, days) if ref.period_key != ONCE else days,
    )
