"""Properties of the schedule over random contracts and billing runs: exactly once, idempotent
runs, and billing everything due up to the contract's end adds up to its value."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Frequency,
    Milestone,
    RampStep,
    Timing,
    validate,
)
from handoff.contracts.domain.schedule import ScheduleItem, contract_value, due, plan
from handoff.kernel.money import ZERO

D = Decimal
BILLING_START = date(2027, 1, 1)

cents = st.integers(min_value=0, max_value=5_000_000).map(lambda c: D(c) / 100)
quantities = st.one_of(st.integers(1, 20).map(D), st.integers(1, 99_999).map(lambda q: D(q) / 1000))
days = st.integers(min_value=0, max_value=1500).map(lambda n: BILLING_START + timedelta(days=n))


@st.composite
def discounts(draw: st.DrawFn, quantity: Decimal, price: Decimal) -> str:
    kind = draw(st.sampled_from(["none", "percent", "amount"]))
    if kind == "percent":
        return f"{draw(st.integers(1, 100))}%"
    if kind == "amount" and quantity * price >= 1:
        return str(D(draw(st.integers(1, int(quantity * price)))))
    return ""


@st.composite
def recurring_rules(draw: st.DrawFn) -> BillingRule:
    start = BILLING_START + timedelta(days=draw(st.integers(0, 90)))
    frequency = draw(st.sampled_from(list(Frequency)))
    timing = draw(st.sampled_from(list(Timing)))
    ramp_days = sorted(set(draw(st.lists(st.integers(1, 1200), max_size=3))))
    ramp = tuple(RampStep(start + timedelta(days=n), draw(cents)) for n in ramp_days)
    how = draw(st.sampled_from(["end", "coterm", "renew", "renew_notice"]))
    length = timedelta(days=draw(st.integers(1, 1200)))
    if how == "end":
        return BillingRule(
            BillingKind.RECURRING, frequency=frequency, timing=timing, start=start, end=start + length, ramp=ramp
        )
    if how == "coterm":
        return BillingRule(
            BillingKind.RECURRING, frequency=frequency, timing=timing, start=start, coterm_to=start + length, ramp=ramp
        )
    first_end = draw(st.one_of(st.none(), st.just(start + length)))
    notice = draw(days) if how == "renew_notice" else None
    return BillingRule(
        BillingKind.RECURRING,
        frequency=frequency,
        timing=timing,
        start=start,
        end=first_end,
        ramp=ramp,
        auto_renew=True,
        renewal_months=draw(st.sampled_from([1, 3, 12, 24])),
        notice_days=draw(st.integers(0, 90)),
        notice_given_on=notice,
    )


@st.composite
def milestone_rules(draw: st.DrawFn, key: str, total_cents: int) -> BillingRule:
    count = draw(st.integers(1, 4))
    if draw(st.booleans()) or total_cents < count:
        cuts = sorted(draw(st.sets(st.integers(1, 99), min_size=count - 1, max_size=count - 1)))
        bounds = [0, *cuts, 100]
        milestones = tuple(
            Milestone(f"{key}-M{i}", f"Milestone {i}", percent=D(bounds[i + 1] - bounds[i])) for i in range(count)
        )
    else:
        cuts = sorted(draw(st.sets(st.integers(1, max(1, total_cents - 1)), min_size=count - 1, max_size=count - 1)))
        bounds = [0, *cuts, total_cents]
        milestones = tuple(
            Milestone(f"{key}-M{i}", f"Milestone {i}", amount=D(bounds[i + 1] - bounds[i]) / 100)
            for i in range(len(bounds) - 1)
        )
    return BillingRule(BillingKind.MILESTONE, milestones=milestones)


@st.composite
def lines(draw: st.DrawFn, key: str) -> ContractLine:
    kind = draw(st.sampled_from(list(BillingKind)))
    quantity = draw(quantities)
    price = draw(cents)
    if kind is BillingKind.ONE_TIME:
        rule = BillingRule(kind, bill_on=draw(st.one_of(st.none(), days)))
    elif kind is BillingKind.RECURRING:
        rule = draw(recurring_rules())
    elif kind is BillingKind.MILESTONE:
        quantity = D(draw(st.integers(1, 5)))
        price = D(draw(st.integers(1, 1_000_000))) / 100
        rule = draw(milestone_rules(key, int(quantity * price * 100)))
    else:
        rule = BillingRule(kind)
    discount = draw(discounts(quantity, price))
    return ContractLine(key, "", f"Line {key}", quantity, price, rule, discount=discount)


@st.composite
def contracts(draw: st.DrawFn) -> ContractVersion:
    count = draw(st.integers(1, 5))
    version = ContractVersion(
        contract_id="C-P",
        version=1,
        effective=BILLING_START,
        terms=ContractTerms("CUST-1", "acme-de", "EUR", "net30", BILLING_START),
        lines=tuple(draw(lines(f"L{i}")) for i in range(1, count + 1)),
    )
    validate(version)
    return version


def _end_of(items: tuple[ScheduleItem, ...]) -> date:
    return max((i.bill_date for i in items if i.bill_date is not None), default=BILLING_START)


@settings(max_examples=150, deadline=None)
@given(
    version=contracts(),
    through=days,
    run_dates=st.lists(days, max_size=8),
    acceptance_offsets=st.lists(st.integers(0, 1500), min_size=20, max_size=20),
)
def test_repeated_runs_bill_each_period_once_and_add_up_to_the_value(
    version: ContractVersion, through: date, run_dates: list[date], acceptance_offsets: list[int]
) -> None:
    items = plan(version, through)
    assert len({i.key for i in items}) == len(items)
    milestone_keys = [i.milestone_key for i in items if i.trigger == "milestone"]
    accepted = {
        key: BILLING_START + timedelta(days=offset)
        for key, offset in zip(milestone_keys, acceptance_offsets, strict=False)
    }
    end = max([_end_of(items), *accepted.values()])

    billed: set[tuple[str, str]] = set()
    total = ZERO
    for on in [*sorted(run_dates), end]:
        run = due(items, on, billed, accepted)
        keys = [i.key for i in run]
        assert len(set(keys)) == len(keys)
        assert not billed & set(keys), "a (line, period) billed twice"
        assert all(i.bill_date is not None and i.bill_date <= on for i in run)
        billed |= set(keys)
        total += sum((i.amount for i in run), ZERO)
        assert due(items, on, billed, accepted) == [], "a second run on the same date billed again"

    assert billed == {i.key for i in items}
    assert total == contract_value(version, through)


@settings(max_examples=150, deadline=None)
@given(version=contracts(), through=days)
def test_items_are_in_cents_and_within_their_period(version: ContractVersion, through: date) -> None:
    for item in plan(version, through):
        assert item.amount == item.amount.quantize(D("0.01"))
        assert item.amount == item.gross - item.discount
        assert ZERO <= item.discount <= item.gross
        assert item.period_start < item.period_end
        if item.trigger == "date" and item.period_key != "once":
            assert item.days == (item.period_end - item.period_start).days <= item.period_days
            assert item.bill_date in (item.period_start, item.period_end)
