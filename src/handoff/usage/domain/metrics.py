"""Billable metrics and their aggregates, pure: what is measured and how events add up.

A `BillableMetric` says which events count (its code, property `filters`), what is measured
(`aggregation` of a property `field`) and how the quantity splits into invoice lines (`group_by`).
Aggregations: COUNT (events), SUM (of a property), MAX (of a property), UNIQUE_COUNT (distinct
values of a property) and LATEST (the value of the latest event, by timestamp).

An `AggregateState` is kept per (subscription, metric, period, group) as events arrive, so rating
never scans raw events. Each event adds a `Contribution`; `apply` and `combine` are sums, so the
state does not depend on arrival order or on how events are split into batches (ties between
events of the same timestamp go to the greater transaction id, so LATEST is order-free too).
A reversal takes its target's contribution back with `reverse`: exact for COUNT and SUM; MAX and
LATEST cannot subtract, so `reverse` marks the state `dirty` whenever the reversed event may be
(or later become) the maximum / the latest, and the store recomputes that one aggregate from its
remaining events (`recompute`) before its quantity is read. UNIQUE_COUNT keeps a value -> refcount
map in the store (+1 per event, -1 per reversal); `unique_count` counts the values above zero.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from handoff.contracts.domain.unit_codes import REC20_CODES
from handoff.kernel.money import ZERO
from handoff.usage.domain.events import UsageError, UsageEvent, describe, parse_value, property_text

METRIC_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # no ":" (it separates period keys)
PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
GROUP_SEPARATOR = "|"  # between the values of a multi-property group-by in a group key
MAX_GROUP_VALUE = 100
MAX_NAME = 200
ONE = Decimal(1)


class Aggregation(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    UNIQUE_COUNT = "unique_count"
    LATEST = "latest"


AGGREGATION_ALIASES = {
    "unique": Aggregation.UNIQUE_COUNT,
    "count_unique": Aggregation.UNIQUE_COUNT,
    "last": Aggregation.LATEST,
}
MEASURED = (Aggregation.SUM, Aggregation.MAX, Aggregation.LATEST)  # a numeric property
RECOMPUTED = (Aggregation.MAX, Aggregation.LATEST)  # a reversal may need a recomputation


@dataclass(frozen=True, slots=True)
class BillableMetric:
    """What is measured for billing, e.g. api_calls = COUNT of events with method in {GET, POST}
    per region."""

    code: str
    name: str
    aggregation: Aggregation
    field: str = ""  # the property summed / maxed / counted unique / taken as latest
    filters: Mapping[str, tuple[str, ...]] = dataclass_field(default_factory=dict)  # property in values
    group_by: tuple[str, ...] = ()  # one aggregate (and invoice line) per group value
    unit: str = "C62"  # UN/ECE Rec 20 unit of the billed quantity (BT-130)


# ---- which events count, and what they add ------------------------------------------------------


def group_key(metric: BillableMetric, event: UsageEvent) -> str | None:
    """The event's group: "" when the metric is not grouped, the group-by values joined by "|"
    otherwise (e.g. "eu|gold"); None when a filter leaves the event out (it adds nothing)."""
    props = event.properties
    for name, allowed in metric.filters.items():
        text = property_text(props.get(name))
        if text is None or text not in allowed:
            return None
    if not metric.group_by:
        return ""
    return GROUP_SEPARATOR.join(property_text(props.get(name)) or "" for name in metric.group_by)


def group_values(metric: BillableMetric, key: str) -> dict[str, str]:
    """A group key back as {property: value}, for invoice line descriptions."""
    if not metric.group_by:
        return {}
    return dict(zip(metric.group_by, key.split(GROUP_SEPARATOR), strict=False))


def check_measure(metric: BillableMetric, event: UsageEvent) -> None:
    """Refuse an event (not a reversal) the metric cannot measure: its group-by properties or
    measured property missing, or a non-number where a number is summed / maxed / taken."""
    if group_key(metric, event) is None:
        return  # filtered out: stored for audit, measures nothing
    props = event.properties
    for name in metric.group_by:
        text = property_text(props.get(name))
        if text is None or not text.strip():
            raise UsageError(
                describe(event), f"properties.{name}", f"is missing (metric {metric.code} is grouped by it)"
            )
        if GROUP_SEPARATOR in text or len(text) > MAX_GROUP_VALUE:
            raise UsageError(
                describe(event),
                f"properties.{name}",
                f"cannot be a group (at most {MAX_GROUP_VALUE} characters, no {GROUP_SEPARATOR!r})",
            )
    if metric.aggregation in MEASURED or metric.aggregation is Aggregation.UNIQUE_COUNT:
        where = f"properties.{metric.field}"
        value = props.get(metric.field)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise UsageError(describe(event), where, f"is missing (metric {metric.code} measures it)")
        if metric.aggregation in MEASURED:
            try:
                parse_value("", where, value)
            except UsageError as exc:  # named only when refused: most events pass
                raise UsageError(describe(event), exc.field, exc.problem) from None


def event_value(metric: BillableMetric, event: UsageEvent) -> Decimal:
    """What one event adds: 1 for COUNT and UNIQUE_COUNT (one event; the distinct text is
    `unique_value`), the measured property as a Decimal for SUM, MAX and LATEST."""
    if metric.aggregation in MEASURED:
        return parse_value(describe(event), f"properties.{metric.field}", event.properties.get(metric.field))
    return ONE


def unique_value(metric: BillableMetric, event: UsageEvent) -> str:
    """The distinct value a UNIQUE_COUNT event counts ("" for other aggregations)."""
    if metric.aggregation is not Aggregation.UNIQUE_COUNT:
        return ""
    return (property_text(event.properties.get(metric.field)) or "").strip()


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one event adds to its aggregate; the store keeps enough of it (value, timestamp,
    transaction id, distinct text) to take it back when the event is reversed."""

    value: Decimal
    occurred_at: datetime
    transaction_id: str
    unique: str = ""


def contribution(metric: BillableMetric, event: UsageEvent) -> Contribution | None:
    """The event's contribution (None when filtered out). The event must have passed
    `check_event`; a reversal's contribution is its target's, which the store has."""
    if group_key(metric, event) is None:
        return None
    return Contribution(event_value(metric, event), event.timestamp, event.transaction_id, unique_value(metric, event))


# ---- aggregates --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AggregateState:
    """The running aggregate of one (subscription, metric, period, group).

    `events` counts every event recorded into it, reversals included (the audit trail: rows in
    `usage_events`); `count` the events still counting (applied minus reversed: COUNT's
    quantity); `total` the sum of their values (SUM's quantity). `maximum` and `latest_*` are over
    every applied event; a reversal that may touch them sets `dirty` (recompute before reading).
    """

    events: int = 0
    count: int = 0
    total: Decimal = ZERO
    maximum: Decimal | None = None
    latest_at: datetime | None = None
    latest_txn: str = ""
    latest_value: Decimal | None = None
    dirty: bool = False


EMPTY = AggregateState()


def _later(at: datetime, txn: str, than_at: datetime | None, than_txn: str) -> bool:
    """Is (at, txn) after (than_at, than_txn)? The order LATEST uses: timestamp, then txn id."""
    return than_at is None or (at, txn) > (than_at, than_txn)


def combine(a: AggregateState, b: AggregateState) -> AggregateState:
    """Two aggregates of the same key as one (a stored state and a batch's delta): associative
    and commutative, so batches may be summed in memory and applied in any order."""
    latest_at: datetime | None
    if b.latest_at is not None and _later(b.latest_at, b.latest_txn, a.latest_at, a.latest_txn):
        latest_at, latest_txn, latest_value = b.latest_at, b.latest_txn, b.latest_value
    else:
        latest_at, latest_txn, latest_value = a.latest_at, a.latest_txn, a.latest_value
    if a.maximum is None:
        maximum = b.maximum
    elif b.maximum is None:
        maximum = a.maximum
    else:
        maximum = max(a.maximum, b.maximum)
    return AggregateState(
        events=a.events + b.events,
        count=a.count + b.count,
        total=a.total + b.total,
        maximum=maximum,
        latest_at=latest_at,
        latest_txn=latest_txn,
        latest_value=latest_value,
        dirty=a.dirty or b.dirty,
    )


def single(c: Contribution) -> AggregateState:
    """The aggregate of one event."""
    return AggregateState(1, 1, c.value, c.value, c.occurred_at, c.transaction_id, c.value)


def apply(state: AggregateState, c: Contribution) -> AggregateState:
    """The aggregate with one more event."""
    return combine(state, single(c))


def reverse(state: AggregateState, c: Contribution) -> AggregateState:
    """The aggregate with the event of contribution `c` taken back by a reversal (itself one more
    recorded event). Exact for count and total; MAX / LATEST become `dirty` when the reversed
    event's value is not below the maximum (or its moment not before the latest): it may be the
    one they show, now or once it arrives (a reversal recorded before its target)."""
    dirty = state.dirty
    if state.maximum is None or c.value >= state.maximum:
        dirty = True
    if state.latest_at is None or (c.occurred_at, c.transaction_id) >= (state.latest_at, state.latest_txn):
        dirty = True
    return replace(
        state,
        events=state.events + 1,
        count=state.count - 1,
        total=state.total - c.value,
        dirty=dirty,
    )


def recompute(remaining: Iterable[Contribution], events: int) -> AggregateState:
    """A clean aggregate from the contributions still counting (targets of reversals left out);
    `events` keeps the audit count of everything recorded, reversals included."""
    state = EMPTY
    for c in remaining:
        state = apply(state, c)
    return replace(state, events=events)


def needs_recompute(metric: BillableMetric, state: AggregateState) -> bool:
    """Must the store recompute this aggregate from its events before reading its quantity?
    (Only MAX and LATEST; a dirty COUNT / SUM / UNIQUE_COUNT aggregate is still exact.)"""
    return state.dirty and metric.aggregation in RECOMPUTED


def unique_count(refcounts: Mapping[str, int]) -> int:
    """Distinct values still counted: those whose events outnumber their reversals."""
    return sum(1 for n in refcounts.values() if n > 0)


def quantity(metric: BillableMetric, state: AggregateState, unique_count: int = 0) -> Decimal:
    """The billable quantity of an aggregate (`unique_count` from the store's refcounts for
    UNIQUE_COUNT). A dirty MAX / LATEST aggregate must be recomputed first: ValueError."""
    kind = metric.aggregation
    if kind in RECOMPUTED and state.dirty:
        raise ValueError(f"aggregate of metric {metric.code} is dirty: recompute it from its events first")
    if kind is Aggregation.COUNT:
        return Decimal(state.count)
    if kind is Aggregation.SUM:
        return state.total
    if kind is Aggregation.MAX:
        return state.maximum if state.maximum is not None and state.count > 0 else ZERO
    if kind is Aggregation.LATEST:
        return state.latest_value if state.latest_value is not None and state.count > 0 else ZERO
    return Decimal(unique_count)


# ---- configuration (JSON, handoff.yaml) --------------------------------------------------------


def metric_to_json(metric: BillableMetric) -> dict[str, Any]:
    """The metric as stored (`billable_metrics.definition`) and shown by the API."""
    return {
        "code": metric.code,
        "name": metric.name,
        "aggregation": metric.aggregation.value,
        "field": metric.field,
        "filters": {k: list(v) for k, v in sorted(metric.filters.items())},
        "group_by": list(metric.group_by),
        "unit": metric.unit,
    }


def _texts(record: str, where: str, value: object) -> tuple[str, ...]:
    """A string or a list of strings, as a tuple."""
    items = [value] if isinstance(value, str | int) and not isinstance(value, bool) else value
    if not isinstance(items, list | tuple) or not items:
        raise UsageError(record, where, "must be a text or a non-empty list of texts")
    out: list[str] = []
    for item in items:
        text = property_text(item)
        if text is None or isinstance(item, float) or not text.strip():
            raise UsageError(record, where, f"has a value that is not text ({item!r})")
        out.append(text.strip())
    return tuple(out)


def metric_from_json(doc: Mapping[str, Any], record: str = "") -> BillableMetric:
    """A metric from configuration (API body, handoff.yaml `usage.metrics` entry); every refusal
    is a UsageError naming the metric and the field."""
    if not isinstance(doc, Mapping):
        raise UsageError(record or "billable metric", "", "must be an object")
    unknown = sorted(set(doc) - {"code", "name", "aggregation", "field", "filters", "group_by", "unit"})
    code = doc.get("code")
    record = record or (f"billable metric {code}" if isinstance(code, str) and code else "billable metric")
    if unknown:
        raise UsageError(record, unknown[0], "is not a metric field")
    if not isinstance(code, str) or not METRIC_CODE.match(code):
        raise UsageError(record, "code", f"must be 1-100 letters, digits, '_', '.' or '-' ({code!r})")
    name = doc.get("name") or code
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise UsageError(record, "name", f"must be a text of at most {MAX_NAME} characters")
    raw_kind = doc.get("aggregation")
    if not isinstance(raw_kind, str):
        raise UsageError(record, "aggregation", "is missing (count, sum, max, unique_count or latest)")
    key = raw_kind.strip().lower()
    kind = AGGREGATION_ALIASES.get(key) or next((a for a in Aggregation if a.value == key), None)
    if kind is None:
        raise UsageError(record, "aggregation", f"must be count, sum, max, unique_count or latest ({raw_kind!r})")
    measured = doc.get("field") or ""
    if not isinstance(measured, str):
        raise UsageError(record, "field", "must be a property name")
    measured = measured.strip()
    if kind is Aggregation.COUNT and measured:
        raise UsageError(record, "field", "is not used by a count (did you mean sum?)")
    if kind is not Aggregation.COUNT and not measured:
        raise UsageError(record, "field", f"is missing (the property a {kind.value} measures)")
    if measured and not PROPERTY_NAME.match(measured):
        raise UsageError(record, "field", f"is not a property name ({measured!r})")
    raw_filters = doc.get("filters") or {}
    if not isinstance(raw_filters, Mapping):
        raise UsageError(record, "filters", "must be an object of property: value(s)")
    filters: dict[str, tuple[str, ...]] = {}
    for prop, values in raw_filters.items():
        if not isinstance(prop, str) or not PROPERTY_NAME.match(prop):
            raise UsageError(record, "filters", f"has a name that is not a property name ({prop!r})")
        filters[prop] = _texts(record, f"filters.{prop}", values)
    raw_group = doc.get("group_by") or ()
    group_by = _texts(record, "group_by", raw_group) if raw_group else ()
    for prop in group_by:
        if not PROPERTY_NAME.match(prop):
            raise UsageError(record, "group_by", f"has a value that is not a property name ({prop!r})")
    if len(set(group_by)) != len(group_by):
        raise UsageError(record, "group_by", "names a property twice")
    unit = doc.get("unit") or "C62"
    if not isinstance(unit, str) or unit.strip().upper() not in REC20_CODES:
        raise UsageError(record, "unit", f"is not a UN/ECE Rec 20 unit code ({unit!r})")
    return BillableMetric(
        code=code,
        name=name.strip() or code,
        aggregation=kind,
        field=measured,
        filters=filters,
        group_by=group_by,
        unit=unit.strip().upper(),
    )
