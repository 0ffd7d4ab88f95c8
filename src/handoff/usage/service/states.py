"""An aggregate's state as stored, and as it bills: a max or latest that a reversal left dirty is
recomputed from that aggregate's own raw events (never a scan of all events)."""

from __future__ import annotations

from decimal import Decimal

from handoff.usage.domain.metrics import (
    MEASURED,
    AggregateState,
    BillableMetric,
    Contribution,
    needs_recompute,
    recompute,
)
from handoff.usage.repository.aggregates import AggregateRow
from handoff.usage.repository.events import UsageEventRepository

ONE = Decimal(1)


def aggregate_state(row: AggregateRow) -> AggregateState:
    """The stored row as the domain's state."""
    return AggregateState(
        row.events, row.count, row.total, row.maximum, row.latest_at, row.latest_txn, row.latest_value, row.dirty
    )


def settled_state(events: UsageEventRepository, metric: BillableMetric, row: AggregateRow) -> AggregateState:
    """The state whose quantity may be read: recomputed from the events still counting when a
    reversal made its max or latest unknown; clean."""
    state = aggregate_state(row)
    if not needs_recompute(metric, state):
        return state
    remaining = [
        Contribution(Decimal(e.value) if metric.aggregation in MEASURED else ONE, e.occurred_at, e.transaction_id)
        for e in events.events_of(row.id)
        if not e.reverses
    ]
    return recompute(remaining, row.events)
