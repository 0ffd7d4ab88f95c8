"""Property: the quantity and the rated amount of an aggregate never depend on the order events
(and reversals) arrive in, nor on how they are split into batches. The reference is the
aggregate recomputed from the events still counting (for MAX / LATEST the store's rule too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.kernel.money import round2
from handoff.usage.domain.events import UsageEvent
from handoff.usage.domain.metrics import (
    EMPTY,
    AggregateState,
    Aggregation,
    BillableMetric,
    Contribution,
    apply,
    combine,
    contribution,
    needs_recompute,
    quantity,
    recompute,
    reverse,
    unique_count,
)
from handoff.usage.domain.pricing import PriceModel, Tier, UsagePrice, rate

D = Decimal
T0 = datetime(2027, 1, 1, tzinfo=UTC)

PRICES = [
    UsagePrice(PriceModel.PER_UNIT, unit_price=D("0.0125"), free_units=D(3)),
    UsagePrice(
        PriceModel.GRADUATED,
        tiers=(Tier(D(10), D("0.5"), D(1)), Tier(D(100), D("0.333")), Tier(None, D("0.0007"))),
        minimum=D(20),
    ),
    UsagePrice(PriceModel.VOLUME, tiers=(Tier(D(50), D("0.75")), Tier(None, D("0.125"))), prepaid=D(40)),
    UsagePrice(PriceModel.PACKAGE, unit_price=D("9.99"), package_size=D(7)),
    UsagePrice(PriceModel.PERCENTAGE, percentage=D("2.95")),
]


@dataclass(frozen=True)
class Op:
    reversal: bool
    c: Contribution


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[BillableMetric, list[Contribution], list[Op], list[int], UsagePrice]:
    kind = draw(st.sampled_from(list(Aggregation)))
    metric = BillableMetric("m", "M", kind, field="" if kind is Aggregation.COUNT else "v")
    n = draw(st.integers(0, 25))
    contributions: list[Contribution] = []
    for i in range(n):
        minute = draw(st.integers(0, 5))  # few distinct minutes: ties on the timestamp happen
        value = D(draw(st.integers(0, 100_000))) / 1000
        user = draw(st.sampled_from(["u1", "u2", "u3", "u4"]))
        event = UsageEvent(
            f"t{i:02d}", "m", T0 + timedelta(minutes=minute), "C-1", properties={"v": str(value), "user": user}
        )
        c = contribution(metric, event)
        assert c is not None
        contributions.append(c)
    reversed_ = draw(st.lists(st.sampled_from(contributions), unique_by=lambda c: c.transaction_id)) if n else []
    ops = [Op(False, c) for c in contributions] + [Op(True, c) for c in reversed_]
    ops = draw(st.permutations(ops))  # any order: reversals may even arrive before their targets
    cuts = sorted(draw(st.lists(st.integers(0, len(ops)), max_size=5)))
    return metric, contributions, ops, cuts, draw(st.sampled_from(PRICES))


def store(
    metric: BillableMetric, ops: list[Op], cuts: list[int], kept: list[Contribution]
) -> tuple[AggregateState, int]:
    """What the store does: per batch a delta summed in memory, combined into the stored state;
    refcounts for unique values; a dirty MAX / LATEST aggregate recomputed at rating."""
    state, refcounts = EMPTY, dict[str, int]()
    bounds = [0, *cuts, len(ops)]
    for start, end in pairwise(bounds):
        delta = EMPTY
        for op in ops[start:end]:
            delta = reverse(delta, op.c) if op.reversal else apply(delta, op.c)
            refcounts[op.c.unique] = refcounts.get(op.c.unique, 0) + (-1 if op.reversal else 1)
        state = combine(state, delta)
    if needs_recompute(metric, state):
        state = recompute(kept, events=state.events)
    return state, unique_count(refcounts)


def reference(metric: BillableMetric, kept: list[Contribution]) -> Decimal:
    kind = metric.aggregation
    if kind is Aggregation.COUNT:
        return D(len(kept))
    if kind is Aggregation.SUM:
        return sum((c.value for c in kept), D(0))
    if kind is Aggregation.MAX:
        return max((c.value for c in kept), default=D(0))
    if kind is Aggregation.LATEST:
        return max(kept, key=lambda c: (c.occurred_at, c.transaction_id)).value if kept else D(0)
    return D(len({c.unique for c in kept}))


@settings(max_examples=400, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_quantity_and_amount_do_not_depend_on_arrival_order(scenario, rnd) -> None:  # type: ignore[no-untyped-def]
    metric, contributions, ops, cuts, price = scenario
    gone = {op.c.transaction_id for op in ops if op.reversal}
    kept = [c for c in contributions if c.transaction_id not in gone]
    state, uniques = store(metric, ops, cuts, kept)
    expected = reference(metric, kept)
    got = quantity(metric, state, uniques)
    assert got == expected
    assert state.events == len(ops) and state.count == len(kept)
    # another arrival order, in one batch: the same state for the sums, the same quantity for all
    shuffled = list(ops)
    rnd.shuffle(shuffled)
    other, other_uniques = store(metric, shuffled, [], kept)
    assert (other.events, other.count, other.total) == (state.events, state.count, state.total)
    assert quantity(metric, other, other_uniques) == got
    # and so the same rating, which adds up in cents
    credits = price.prepaid
    rated, again = rate(price, got, credits), rate(price, expected, credits)
    assert rated == again
    assert rated.amount + rated.true_up - rated.credits_used == rated.due
    assert rated.credits_left >= 0 and rated.amount == round2(rated.amount)
    assert round2(rated.line_quantity * rated.line_unit_price) == rated.amount
