"""Properties of change orders over random contracts, change orders and billing runs: bill what is
due up to each order's effective date (the day before, or the day itself), apply the order,
replan, keep billing. In the end the items and adjustments billed add up to each day of each line
at the version in force that day (computed here period by period, without `replan`), no
(line, period) is billed twice and a second run on the same date bills nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import event, given, settings
from hypothesis import strategies as st

from handoff.contracts.domain.change_orders import (
    AddLine,
    Change,
    ChangeOrder,
    ChangePrice,
    ChangeQuantity,
    Extend,
    RemoveLine,
    ShiftDates,
    Terminate,
    apply_change_order,
    replaced_by_change,
    replan,
    retired_keys,
)
from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractError,
    ContractLine,
    ContractTerms,
    ContractVersion,
    RampStep,
)
from handoff.contracts.domain.schedule import ScheduleItem, due, plan
from handoff.invoicing.domain.allowances import parse_discount
from handoff.kernel.money import ZERO, round2
from tests.unit.contracts.test_schedule_properties import (
    BILLING_START,
    cents,
    contracts,
    days,
    lines,
    quantities,
    recurring_rules,
)

D = Decimal


def _moved(rule: BillingRule, delta: timedelta) -> BillingRule:
    """A generated line's dates moved by `delta` (so a line added on day E starts on or after E)."""
    if rule.kind is BillingKind.ONE_TIME:
        return replace(rule, bill_on=None if rule.bill_on is None else rule.bill_on + delta)
    if rule.kind is not BillingKind.RECURRING:
        return rule
    return replace(
        rule,
        start=None if rule.start is None else rule.start + delta,
        end=None if rule.end is None else rule.end + delta,
        coterm_to=None if rule.coterm_to is None else rule.coterm_to + delta,
        notice_given_on=None if rule.notice_given_on is None else rule.notice_given_on + delta,
        ramp=tuple(RampStep(step.starts + delta, step.unit_price) for step in rule.ramp),
    )


@st.composite
def changes(draw: st.DrawFn, effective: date, name: str, keys: list[str]) -> Change:
    kind = draw(st.sampled_from(["add", "remove", "quantity", "price", "extend", "terminate", "shift"]))
    key = draw(st.sampled_from(keys))
    later = effective + timedelta(days=draw(st.integers(0, 300)))
    if kind == "add":
        line: ContractLine = draw(lines(name))
        return AddLine(replace(line, rule=_moved(line.rule, effective - BILLING_START)))
    if kind == "remove":
        return RemoveLine(key)
    if kind == "quantity":
        return ChangeQuantity(key, draw(quantities))
    if kind == "price":
        return ChangePrice(key, draw(cents))
    if kind == "extend":
        return Extend(draw(st.one_of(st.none(), st.just(key))), later)
    if kind == "terminate":
        return Terminate(later)
    return ShiftDates(key, draw(st.integers(-60, 60)))


@st.composite
def change_orders(draw: st.DrawFn, version: ContractVersion) -> list[ChangeOrder]:
    keys = [line.key for line in version.lines]
    offsets = sorted(draw(st.lists(st.integers(0, 500), min_size=1, max_size=3)))
    orders = []
    for n, offset in enumerate(offsets, start=1):
        effective = BILLING_START + timedelta(days=offset)
        count = draw(st.integers(1, 2))
        orders.append(
            ChangeOrder(
                f"CO-{n}",
                effective,
                tuple(draw(changes(effective, f"N{n}{i}", keys)) for i in range(count)),
                reason="property",
            )
        )
        keys += [c.line.key for c in orders[-1].changes if isinstance(c, AddLine)]
    return orders


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ContractVersion, list[ChangeOrder]]:
    version = draw(contracts())
    return version, draw(change_orders(version))


def _segment(item: ScheduleItem, discount: str, low: date, high: date) -> Decimal:
    """The value of the item's days in [low, high): all of it, or its days' share (prorated over
    the full calendar period, the line's discount taken off, rounded to cents)."""
    low, high = max(low, item.period_start), min(high, item.period_end)
    if high <= low:
        return ZERO
    share = (high - low).days
    if share == (item.period_end - item.period_start).days:
        return item.amount
    gross = round2(item.quantity * item.unit_price * share / item.period_days)
    parsed = parse_discount(discount)
    if parsed is None or parsed.is_zero:
        return gross
    if parsed.percentage is not None:
        return gross - round2(gross * parsed.percentage / 100)
    return gross - min(round2((parsed.amount or ZERO) * share / item.period_days), gross)


def _reference(
    versions: list[ContractVersion], through: date, runs: list[tuple[date, int]], accepted: dict[str, date]
) -> Decimal:
    """The contract's value after its change orders: each dated item's days at the version in
    force on them; each accepted milestone at the version current at the first run on or after
    its acceptance that has it (a milestone bills when accepted; a billed one is final)."""
    total = ZERO
    for index, version in enumerate(versions):
        low = date.min if index == 0 else version.effective
        high = versions[index + 1].effective if index + 1 < len(versions) else date.max
        discounts = {line.key: line.discount for line in version.lines}
        for item in plan(version, through):
            if item.trigger == "date":
                total += _segment(item, discounts[item.line_key], low, high)
    for key, accepted_on in accepted.items():
        for on, index in runs:
            amounts = [i.amount for i in plan(versions[index], through) if i.milestone_key == key]
            if on >= accepted_on and amounts:
                total += amounts[0]
                break
    return total


@st.composite
def subscriptions(draw: st.DrawFn) -> tuple[ContractVersion, list[ChangeOrder]]:
    """Recurring lines only, changed mid-term: most orders touch a billed or running period."""
    count = draw(st.integers(1, 3))
    version = ContractVersion(
        contract_id="C-S",
        version=1,
        effective=BILLING_START,
        terms=ContractTerms("CUST-1", "acme-de", "EUR", "net30", BILLING_START),
        lines=tuple(
            ContractLine(f"L{i}", "", f"Seat {i}", draw(quantities), draw(cents), draw(recurring_rules()), discount=d)
            for i, d in zip(
                range(1, count + 1), draw(st.lists(st.sampled_from(["", "10%", "25%"]), min_size=3)), strict=False
            )
        ),
    )
    keys = [line.key for line in version.lines]
    orders = []
    for n, offset in enumerate(sorted(draw(st.lists(st.integers(0, 400), min_size=1, max_size=3))), start=1):
        effective = BILLING_START + timedelta(days=offset)
        key = draw(st.sampled_from(keys))
        later = effective + timedelta(days=draw(st.integers(0, 120)))
        change = draw(
            st.sampled_from(
                [
                    ChangeQuantity(key, draw(quantities)),
                    ChangePrice(key, draw(cents)),
                    Terminate(later),
                    RemoveLine(key),
                    Extend(key, later + timedelta(days=400)),
                ]
            )
        )
        orders.append(ChangeOrder(f"CO-{n}", effective, (change,)))
    return version, orders


@settings(max_examples=120, deadline=None)
@given(
    scenario=scenarios(),
    through=days,
    on_the_day=st.lists(st.booleans(), min_size=3, max_size=3),
    extra_runs=st.lists(days, max_size=3),
    acceptance=st.lists(st.one_of(st.none(), st.integers(0, 1500)), min_size=30, max_size=30),
)
def test_billing_through_change_orders_adds_up_to_each_day_at_its_version(
    scenario: tuple[ContractVersion, list[ChangeOrder]],
    through: date,
    on_the_day: list[bool],
    extra_runs: list[date],
    acceptance: list[int | None],
) -> None:
    _simulate(*scenario, through, on_the_day, extra_runs, acceptance)


@settings(max_examples=250, deadline=None)
@given(
    scenario=subscriptions(),
    through=days,
    on_the_day=st.lists(st.booleans(), min_size=3, max_size=3),
    extra_runs=st.lists(days, max_size=3),
)
def test_mid_term_changes_to_subscriptions_add_up_to_each_day_at_its_version(
    scenario: tuple[ContractVersion, list[ChangeOrder]], through: date, on_the_day: list[bool], extra_runs: list[date]
) -> None:
    _simulate(*scenario, through, on_the_day, extra_runs, [])


def _simulate(
    version: ContractVersion,
    orders: list[ChangeOrder],
    through: date,
    on_the_day: list[bool],
    extra_runs: list[date],
    acceptance: list[int | None],
) -> None:
    milestone_keys = [m.key for line in version.lines for m in line.rule.milestones]
    milestone_keys += [
        m.key
        for order in orders
        for change in order.changes
        if isinstance(change, AddLine)
        for m in change.line.rule.milestones
    ]
    accepted = {
        key: BILLING_START + timedelta(days=offset)
        for key, offset in zip(milestone_keys, acceptance, strict=False)
        if offset is not None
    }
    versions = [version]
    pending = {item.key: item for item in plan(version, through)}
    billed: dict[tuple[str, str], ScheduleItem] = {}
    runs: list[tuple[date, int]] = []
    total = ZERO

    def run(on: date) -> None:
        nonlocal total
        batch = due(pending.values(), on, billed.keys(), accepted)
        for item in batch:
            assert item.key not in billed, f"{item.key} billed twice"
            assert item.bill_date is not None and item.bill_date <= on
            billed[item.key] = item
            del pending[item.key]
            total += item.amount
        assert due(pending.values(), on, billed.keys(), accepted) == [], "a second run on the same date billed again"
        runs.append((on, len(versions) - 1))

    extra = sorted(extra_runs)
    for order, inclusive in zip(orders, on_the_day, strict=False):
        effective = order.effective
        while extra and extra[0] < effective:
            run(extra.pop(0))
        run(effective if inclusive else effective - timedelta(days=1))
        current = versions[-1]
        try:
            new = apply_change_order(current, order, retired=retired_keys(versions))
        except ContractError as exc:
            event(f"refused: {exc.field}")
            continue
        event(f"applied {type(order.changes[0]).__name__}")
        future, adjustments = replan(current, new, billed, through)
        assert all(item.key not in billed for item in future)
        pending = {key: item for key, item in pending.items() if not replaced_by_change(item, effective)}
        for item in [*future, *adjustments]:
            assert item.key not in pending and item.key not in billed, f"{item.key} planned twice"
            pending[item.key] = item
        assert all(a.trigger == "change_order" and a.bill_date == effective for a in adjustments)
        event("adjusted" if adjustments else "not adjusted")
        versions.append(new)

    for on in extra:
        run(on)
    dated = [i.bill_date for i in pending.values() if i.bill_date is not None]
    end = max([BILLING_START, *dated, *accepted.values()])
    run(end)
    assert all(item.trigger == "milestone" for item in pending.values())
    assert total == _reference(versions, through, runs, accepted)
