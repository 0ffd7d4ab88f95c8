"""What the usage package shows: each subscription's current month so far (per metric and group
the quantity, the events and the amount at its price), for the API, the CLI and the contract page.
Reads outside any transaction; rating reads the same aggregates, so what is shown is what would be
billed if the month closed now (before its minimum commitment and prepaid credits)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from handoff.context import AppContext
from handoff.kernel.money import ZERO, round2
from handoff.usage.domain.metrics import group_values, quantity
from handoff.usage.domain.pricing import rate
from handoff.usage.repository.aggregates import AggregateRow, UsageAggregateRepository
from handoff.usage.repository.events import UsageEventRepository
from handoff.usage.service.metrics import MetricView, PriceView, get_metric, list_metrics, load_metrics, price_of_line
from handoff.usage.service.states import settled_state
from handoff.usage.service.subscriptions import subscriptions

__all__ = [
    "GroupUsage",
    "MetricView",
    "PriceView",
    "SubscriptionUsage",
    "current_usage",
    "get_metric",
    "list_metrics",
    "price_of_line",
]


@dataclass(frozen=True, slots=True)
class GroupUsage:
    """One aggregate of the month so far."""

    group_key: str  # '' when the metric is not grouped
    group: dict[str, str]  # {property: value} of a grouped metric
    quantity: Decimal
    events: int
    amount: Decimal  # at the line's price (tiers and free units per group), cents
    aggregate_id: int


@dataclass(frozen=True, slots=True)
class SubscriptionUsage:
    """A usage line's month so far."""

    contract_id: str
    customer_id: str
    line_key: str
    metric: str
    metric_name: str
    unit: str
    period: str
    currency: str
    price_model: str
    groups: tuple[GroupUsage, ...]
    minimum: Decimal  # the minimum commitment per month (0: none)
    credits_left: Decimal  # prepaid credits not drawn yet

    @property
    def quantity(self) -> Decimal:
        return sum((g.quantity for g in self.groups), ZERO)

    @property
    def events(self) -> int:
        return sum(g.events for g in self.groups)

    @property
    def amount(self) -> Decimal:
        """The usage charge so far (before the minimum's true-up and prepaid credits)."""
        return sum((g.amount for g in self.groups), ZERO)


def current_usage(
    ctx: AppContext, customer_id: str | None = None, contract_id: str | None = None, on: date | None = None
) -> list[SubscriptionUsage]:
    """Each active subscription's (of the customer, of the contract, or every one with usage this
    month) month of `on` (default today) so far, in contract and line order."""
    day = on or ctx.clock().date()
    period = f"{day.year:04d}-{day.month:02d}"
    aggregates = UsageAggregateRepository(ctx.engine)
    if contract_id is None and customer_id is None:
        subs = subscriptions(ctx, aggregates.contracts_in_period(period))
    else:
        subs = subscriptions(ctx, [contract_id] if contract_id else [], [customer_id] if customer_id else [])
        if contract_id and customer_id:
            subs = [s for s in subs if s.contract.customer_id == customer_id and s.contract.contract_id == contract_id]
    subs = [s for s in subs if s.active]
    if not subs:
        return []
    metrics = load_metrics(ctx)
    events = UsageEventRepository(ctx.engine)
    rows: dict[tuple[str, str, str], list[AggregateRow]] = defaultdict(list)
    for row in aggregates.of_period({s.contract.contract_id for s in subs}, period):
        rows[(row.contract_id, row.line_key, row.metric)].append(row)
    drawn: dict[str, dict[str, Decimal]] = {}
    found: list[SubscriptionUsage] = []
    for sub in subs:
        metric = metrics.get(sub.metric)
        price = replace(sub.price, minimum=ZERO, prepaid=ZERO)
        groups = []
        for row in rows.get((sub.contract.contract_id, sub.line.line_key, sub.metric), []):
            if metric is None:
                continue
            units = quantity(metric, settled_state(events, metric, row), row.uniques)
            amount = rate(price, units).amount if units > 0 else ZERO
            groups.append(
                GroupUsage(row.group_key, group_values(metric, row.group_key), units, row.events, amount, row.id)
            )
        cid = sub.contract.contract_id
        if sub.price.prepaid and cid not in drawn:
            drawn[cid] = aggregates.credits_drawn(cid)
        left = max(round2(sub.price.prepaid) - drawn.get(cid, {}).get(sub.line.line_key, ZERO), ZERO)
        found.append(
            SubscriptionUsage(
                contract_id=cid,
                customer_id=sub.contract.customer_id,
                line_key=sub.line.line_key,
                metric=sub.metric,
                metric_name=metric.name if metric else sub.metric,
                unit=metric.unit if metric else "C62",
                period=period,
                currency=sub.contract.currency,
                price_model=sub.price.model.value,
                groups=tuple(groups),
                minimum=round2(sub.price.minimum),
                credits_left=left,
            )
        )
    return found
