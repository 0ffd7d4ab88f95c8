"""Billable metrics: filters, group-by, values, aggregates and their reversals, JSON config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from handoff.usage.domain.events import UsageError, UsageEvent
from handoff.usage.domain.metrics import (
    EMPTY,
    Aggregation,
    BillableMetric,
    apply,
    combine,
    contribution,
    event_value,
    group_key,
    group_values,
    metric_from_json,
    metric_to_json,
    needs_recompute,
    quantity,
    recompute,
    reverse,
    unique_count,
    unique_value,
)

T0 = datetime(2027, 1, 10, tzinfo=UTC)
GB = BillableMetric(
    "gb",
    "GB transferred",
    Aggregation.SUM,
    field="gb",
    filters={"tier": ("pro", "team")},
    group_by=("region", "zone"),
)


def ev(txn: str, minutes: int = 0, **props: str) -> UsageEvent:
    return UsageEvent(txn, "gb", T0 + timedelta(minutes=minutes), subscription="C-1", properties=props)


def test_group_key_and_filters() -> None:
    assert group_key(GB, ev("a", tier="pro", region="eu", zone="1", gb="2")) == "eu|1"
    assert group_key(GB, ev("a", tier="team", region="us", zone="2", gb="2")) == "us|2"
    assert group_key(GB, ev("a", tier="free", region="eu", zone="1", gb="2")) is None  # not in the filter
    assert group_key(GB, ev("a", region="eu", zone="1", gb="2")) is None  # filter property missing
    plain = BillableMetric("calls", "Calls", Aggregation.COUNT)
    assert group_key(plain, ev("a")) == ""
    assert group_values(GB, "eu|1") == {"region": "eu", "zone": "1"}
    assert group_values(plain, "") == {}


def test_event_values_per_aggregation() -> None:
    e = ev("a", tier="pro", region="eu", zone="1", gb="2.50", user="u-7")
    assert event_value(GB, e) == Decimal("2.5")
    assert event_value(BillableMetric("c", "C", Aggregation.COUNT), e) == 1
    uniq = BillableMetric("u", "U", Aggregation.UNIQUE_COUNT, field="user")
    assert event_value(uniq, e) == 1 and unique_value(uniq, e) == "u-7"
    assert unique_value(GB, e) == ""
    with pytest.raises(UsageError) as info:
        event_value(GB, ev("a", tier="pro", region="eu", zone="1", gb="x"))
    assert info.value.field == "properties.gb"
    assert contribution(GB, ev("a", tier="free", gb="1")) is None


def test_sum_and_count_aggregates_take_reversals_back_exactly() -> None:
    cs = [
        contribution(GB, ev(t, i, tier="pro", region="eu", zone="1", gb=g))
        for i, (t, g) in enumerate([("a", "1.5"), ("b", "2"), ("c", "0.25")])
    ]
    assert all(c is not None for c in cs)
    a, b, c = (x for x in cs if x is not None)
    state = apply(apply(apply(EMPTY, a), b), c)
    # 1.5 + 2 + 0.25 = 3.75 over 3 events
    assert (state.events, state.count, state.total) == (3, 3, Decimal("3.75"))
    state = reverse(state, b)
    # 3.75 - 2 = 1.75; 3 events + 1 reversal recorded, 2 still counting
    assert (state.events, state.count, state.total) == (4, 2, Decimal("1.75"))
    assert quantity(GB, state) == Decimal("1.75")
    assert quantity(BillableMetric("c", "C", Aggregation.COUNT), state) == 2
    assert not needs_recompute(GB, state)


def test_max_and_latest_become_dirty_only_when_the_reversed_event_may_show() -> None:
    peak = BillableMetric("peak", "Peak seats", Aggregation.MAX, field="seats")
    last = BillableMetric("seats", "Seats", Aggregation.LATEST, field="seats")

    def c(txn: str, minute: int, seats: str):  # type: ignore[no-untyped-def]
        got = contribution(
            peak, UsageEvent(txn, "peak", T0 + timedelta(minutes=minute), "C-1", properties={"seats": seats})
        )
        assert got is not None
        return got

    early_high, late_low, mid = c("a", 0, "9"), c("b", 20, "3"), c("c", 10, "5")
    state = apply(apply(apply(EMPTY, early_high), late_low), mid)
    assert quantity(peak, state) == 9  # max(9, 3, 5)
    assert quantity(last, state) == 3  # the event at minute 20
    lowered = reverse(state, mid)  # 5 < 9 and minute 10 < minute 20: neither changes
    assert not lowered.dirty and quantity(peak, lowered) == 9 and quantity(last, lowered) == 3
    dirty = reverse(state, early_high)  # it was the maximum
    assert dirty.dirty and needs_recompute(peak, dirty)
    with pytest.raises(ValueError, match="dirty"):
        quantity(peak, dirty)
    clean = recompute([late_low, mid], events=dirty.events)
    assert quantity(peak, clean) == 5 and quantity(last, clean) == 3 and clean.events == 4
    assert reverse(state, late_low).dirty  # it was the latest
    # a reversal recorded before its target: dirty, whatever arrives later
    orphan = reverse(EMPTY, early_high)
    assert orphan.dirty and combine(orphan, state).dirty
    # all reversed and recomputed: nothing to bill
    assert quantity(peak, recompute([], events=6)) == 0 and quantity(last, recompute([], events=6)) == 0


def test_latest_ties_go_to_the_greater_transaction_id_in_any_order() -> None:
    last = BillableMetric("seats", "Seats", Aggregation.LATEST, field="seats")
    x = contribution(last, UsageEvent("x", "seats", T0, "C-1", properties={"seats": "4"}))
    y = contribution(last, UsageEvent("y", "seats", T0, "C-1", properties={"seats": "7"}))
    assert x is not None and y is not None
    assert quantity(last, apply(apply(EMPTY, x), y)) == quantity(last, apply(apply(EMPTY, y), x)) == 7


def test_unique_count_from_refcounts() -> None:
    uniq = BillableMetric("u", "U", Aggregation.UNIQUE_COUNT, field="user")
    # u-1 seen twice and reversed once, u-2 reversed away, u-3 seen once
    assert unique_count({"u-1": 1, "u-2": 0, "u-3": 1, "u-4": -1}) == 2
    assert quantity(uniq, EMPTY, unique_count=2) == 2


def test_metric_json_round_trip_and_refusals() -> None:
    doc = {
        "code": "gb",
        "name": "GB transferred",
        "aggregation": "SUM",
        "field": "gb",
        "filters": {"tier": ["pro", "team"]},
        "group_by": ["region", "zone"],
        "unit": "e34",
    }
    metric = metric_from_json(doc)
    assert metric.aggregation is Aggregation.SUM and metric.unit == "E34"
    assert metric_from_json(metric_to_json(metric)) == metric
    assert metric_from_json(
        {"code": "u", "aggregation": "unique", "field": "user", "filters": {"plan": "pro"}, "group_by": "region"}
    ) == BillableMetric(
        "u", "u", Aggregation.UNIQUE_COUNT, field="user", filters={"plan": ("pro",)}, group_by=("region",)
    )

    def refused(**changes: object) -> UsageError:
        with pytest.raises(UsageError) as info:
            metric_from_json({**doc, **changes})
        return info.value

    assert refused(code="api:calls").field == "code"
    assert refused(aggregation="avg").field == "aggregation"
    assert refused(aggregation="count").field == "field"  # a count measures no property
    assert refused(field="").field == "field"
    assert refused(filters={"tier": []}).field == "filters.tier"
    assert refused(group_by=["region", "region"]).field == "group_by"
    assert refused(unit="QQQ").field == "unit"
    assert refused(colour="red").field == "colour"
    assert str(refused(unit="QQQ")) == "billable metric gb: unit is not a UN/ECE Rec 20 unit code ('QQQ')"
