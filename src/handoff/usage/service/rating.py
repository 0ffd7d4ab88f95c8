"""Rating usage in arrears into the contract's billing schedule, for the billing run to invoice.

`rate_usage(ctx, through)` takes every aggregate not rated yet of a month whose grace has ended on
or before `through` (`usage.domain.periods.rateable`: 2027-01 with 3 days' grace from 2027-02-04)
and, in one transaction per contract: recomputes the aggregates a reversal left dirty (max,
latest: from that aggregate's own raw events only), prices each at its usage line's price
(`usage.domain.pricing.rate`), adds the schedule items (`contracts.service.delivery.
add_delivery_items`, due on `through`, trigger "usage") and marks the aggregates rated with the
item's period key. One item per metric (and group) per month: `usage:<metric>:<period>` or
`usage:<metric>:<group>:<period>`, its note (EN 16931 BT-127) naming the metric, the event count
and the aggregate ("metric api_calls: 1,234,567 events, aggregate 2027-01 (id 42)") with the
rating's steps, its period (BG-26) the month. Per line, metric and month: a minimum commitment
not reached is trued up (`usage-minimum:<metric>:<period>`; a month without any event too, from the
line's start), and prepaid credits are drawn down by the month's charge
(`usage-prepaid:<metric>:<period>`, a negative line; the movement in `usage_credits`). Tiers and free
units apply per aggregate (per group); the minimum and the credits per line and month.

Exactly once: a second run finds the aggregates rated and rates nothing; two runs at once
serialise on the aggregates' rows (PostgreSQL `FOR UPDATE`, SQLite's one writer) and the schedule's
unique (contract, line, period key). A month once rated takes no more events: a late one goes to
the open month (`ingest`). `prune_usage_events` drops raw events past the retention.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.contracts.domain.model import ContractError
from handoff.contracts.service.delivery import AlreadyWritten, DeliveryItem, add_delivery_items
from handoff.kernel.money import ZERO, round2
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.usage.domain.events import UsageError
from handoff.usage.domain.metrics import (
    BillableMetric,
    group_values,
    quantity,
)
from handoff.usage.domain.periods import next_period, parse_period, period_dates, rateable
from handoff.usage.domain.pricing import rate
from handoff.usage.repository.aggregates import AggregateRow, UsageAggregateRepository
from handoff.usage.repository.events import UsageEventRepository
from handoff.usage.repository.metrics import MetricRepository
from handoff.usage.service.access import check_finance
from handoff.usage.service.metrics import load_metrics
from handoff.usage.service.states import settled_state
from handoff.usage.service.subscriptions import Subscription, subscriptions

ACTOR = "automation:usage_rating"
ONE = Decimal(1)
log = logging.getLogger(__name__)

__all__ = ["ACTOR", "ContractRating", "RatingResult", "last_rateable", "prune_usage_events", "rate_usage"]


@dataclass(frozen=True, slots=True)
class ContractRating:
    """What one contract's rating added."""

    contract_id: str
    items: int
    amount: Decimal  # net of the items added (credits drawn are negative)
    aggregates: int  # aggregates rated (those with nothing to bill included)
    period_keys: tuple[str, ...] = ()


@dataclass
class RatingResult:
    """A rating run: per contract what it added, and the contracts that failed (id, message)."""

    through: date
    last_period: str  # the last month rated ("" when none may be)
    contracts: list[ContractRating] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def items(self) -> int:
        return sum(c.items for c in self.contracts)

    @property
    def amount(self) -> Decimal:
        return sum((c.amount for c in self.contracts), ZERO)


def _previous(period: str) -> str:
    year, month = parse_period(period)
    return f"{year - (month == 1):04d}-{(month - 2) % 12 + 1:02d}"


def last_rateable(through: date, grace_days: int) -> str:
    """The latest month a run for `through` may rate (its grace ended on or before `through`)."""
    period = f"{through.year:04d}-{through.month:02d}"
    while not rateable(period, timedelta(days=grace_days), through):
        period = _previous(period)
    return period


def _period_key(metric: str, group: str, period: str) -> str:
    key = f"usage:{metric}:{group}:{period}" if group else f"usage:{metric}:{period}"
    if len(key) > 200:  # a long group-by value: named by its digest (the note keeps the values)
        key = f"usage:{metric}:{hashlib.sha256(group.encode()).hexdigest()[:16]}:{period}"
    return key


def _group_text(metric: BillableMetric, group: str) -> str:
    values = group_values(metric, group)
    return ", ".join(f"{k} {v}" for k, v in values.items())


def _item(
    sub: Subscription, period: str, key: str, quantity_: Decimal, price: Decimal, amount: Decimal, **more: Any
) -> DeliveryItem:
    start, end = period_dates(period)
    return DeliveryItem(
        line_key=sub.line.line_key,
        period_key=key,
        period_start=start,
        period_end=end,
        bill_date=more.pop("bill_date"),
        quantity=quantity_,
        unit_price=price,
        amount=amount,
        description=more.pop("description"),
        product=sub.line.product[:100],
        tax_category=sub.line.tax_category,
        supply=sub.line.supply,
        trigger="usage",
        note=more.pop("note"),
        unit_code=more.pop("unit_code", "C62"),
    )


@dataclass
class _ContractRun:
    """One contract's rating, in its transaction."""

    uow: UnitOfWork
    contract_id: str
    through: date
    last: str
    metrics: dict[str, BillableMetric]
    now: datetime
    items: list[DeliveryItem] = field(default_factory=list)
    rated: list[dict[str, Any]] = field(default_factory=list)
    credits: list[dict[str, Any]] = field(default_factory=list)
    drawn: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    def minimum_gaps(self, subs: dict[str, Subscription]) -> list[tuple[str, str, str, str, str]]:
        """Months (up to the last rated) of active lines with a minimum commitment that have no
        aggregate at all: the minimum bills them too, from the line's first month."""
        have = self.uow.repository(UsageAggregateRepository).periods_of(self.contract_id)
        gaps = []
        for sub in subs.values():
            if not sub.price.minimum or not sub.active:
                continue
            last = self.last
            if sub.line.end is not None:
                final = sub.line.end - timedelta(days=1)
                last = min(last, f"{final.year:04d}-{final.month:02d}")
            period = f"{sub.line.start.year:04d}-{sub.line.start.month:02d}"
            while period <= last:
                if (sub.line.line_key, sub.metric, period) not in have:
                    gaps.append((self.contract_id, sub.line.line_key, sub.metric, period, ""))
                period = next_period(period)
        return gaps

    def rate_line(self, sub: Subscription, metric: BillableMetric, period: str, rows: list[AggregateRow]) -> None:
        price = sub.price
        per_group = replace(price, minimum=ZERO, prepaid=ZERO)
        total = ZERO
        for row in rows:
            state = settled_state(self.uow.repository(UsageEventRepository), metric, row)
            units = quantity(metric, state, row.uniques)
            key = ""
            if units > 0:
                rated = rate(per_group, units)
                key = _period_key(metric.code, row.group_key, period)
                group = _group_text(metric, row.group_key)
                unit = metric.unit if rated.line_quantity == rated.billable else "C62"
                self.items.append(
                    _item(
                        sub,
                        period,
                        key,
                        rated.line_quantity,
                        rated.line_unit_price,
                        rated.amount,
                        bill_date=self.through,
                        description=f"{metric.name}, {period}{f' ({group})' if group else ''}: {units.normalize():,f}",
                        note=f"metric {metric.code}: {row.events:,} events, aggregate {period} (id {row.id}); "
                        f"{rated.explanation}",
                        unit_code=unit,
                    )
                )
                total += rated.amount
            self.rated.append(
                {
                    "_id": row.id,
                    "events": state.events,
                    "count": state.count,
                    "total": state.total,
                    "maximum": state.maximum,
                    "latest_at": state.latest_at,
                    "latest_txn": state.latest_txn or None,
                    "latest_value": state.latest_value,
                    "uniques": row.uniques,
                    "dirty": state.dirty,
                    "rated_key": key,  # '' when there was nothing to bill
                    "rated_at": self.now,
                    "updated_at": self.now,
                }
            )
        true_up = max(round2(price.minimum) - total, ZERO)
        if true_up:
            self.items.append(
                _item(
                    sub,
                    period,
                    f"usage-minimum:{metric.code}:{period}",
                    ONE,
                    true_up,
                    true_up,
                    bill_date=self.through,
                    description=f"{metric.name}, {period}: minimum commitment {round2(price.minimum):,.2f}",
                    note=f"metric {metric.code}: minimum commitment {round2(price.minimum):,.2f} for {period}, "
                    f"usage {total:,.2f}: true-up {true_up:,.2f}",
                )
            )
        balance = max(round2(price.prepaid) - self.drawn[sub.line.line_key], ZERO)
        draw = min(balance, total + true_up)
        if draw:
            key = f"usage-prepaid:{metric.code}:{period}"
            self.items.append(
                _item(
                    sub,
                    period,
                    key,
                    -ONE,
                    draw,
                    -draw,
                    bill_date=self.through,
                    description=f"{metric.name}, {period}: prepaid credits used",
                    note=f"metric {metric.code}: prepaid credits {draw:,.2f} drawn for {period}, "
                    f"{balance - draw:,.2f} left of {round2(price.prepaid):,.2f}",
                )
            )
            self.drawn[sub.line.line_key] += draw
            self.credits.append(
                {
                    "contract_id": self.contract_id,
                    "line_key": sub.line.line_key,
                    "period": period,
                    "period_key": key,
                    "drawn": draw,
                    "balance": balance - draw,
                    "drawn_at": self.now,
                }
            )


def _rate_one(ctx: AppContext, contract_id: str, through: date, last: str, actor: str) -> ContractRating | None:
    now = ctx.clock()
    metrics = load_metrics(ctx)
    with ctx.unit_of_work() as uow:
        repo = uow.repository(UsageAggregateRepository)
        subs = {s.line.line_key: s for s in subscriptions(uow, [contract_id])}
        run = _ContractRun(uow, contract_id, through, last, metrics, now)
        gaps = run.minimum_gaps(subs)
        if gaps:
            repo.lock(gaps, now)
        rows = repo.open_of(contract_id, last, lock=True)
        if not rows:
            return None
        for line_key, amount in repo.credits_drawn(contract_id).items():
            run.drawn[line_key] = amount
        groups: dict[tuple[str, str, str], list[AggregateRow]] = defaultdict(list)
        for row in rows:
            groups[(row.line_key, row.period, row.metric)].append(row)
        for (line_key, period, code), members in sorted(groups.items()):
            sub = subs.get(line_key)
            record = f"usage of contract {contract_id} line {line_key} {period}"
            if sub is None:
                raise UsageError(record, "line_key", "is no longer a usage line of the contract")
            metric = metrics.get(code)
            if metric is None:
                raise UsageError(record, "metric", f"{code!r} is no longer a billable metric")
            run.rate_line(sub, metric, period, members)
        if run.items:
            add_delivery_items(uow, contract_id, run.items, actor, now=now)
        repo.mark_rated(run.rated)
        if run.credits:
            repo.add_credits(run.credits)
        total = sum((i.amount for i in run.items), ZERO)
        uow.audit(
            at=now,
            actor=actor,
            action="usage.rated",
            entity_type="contract",
            entity_id=contract_id,
            reason=f"usage through {last}: {len(run.items)} item(s), {total} net, {len(rows)} aggregate(s)",
            after={
                "through": through,
                "last_period": last,
                "items": [[i.line_key, i.period_key, i.quantity, i.amount] for i in run.items],
                "aggregates": [r["_id"] for r in run.rated],
                "total": total,
            },
        )
        uow.commit()
    return ContractRating(contract_id, len(run.items), total, len(rows), tuple(i.period_key for i in run.items))


def _candidates(ctx: AppContext, last: str, contract_id: str | None) -> list[str]:
    found = set(UsageAggregateRepository(ctx.engine).contracts_with_open(last, contract_id))
    for row in MetricRepository(ctx.engine).all_prices():  # minimum commitments bill months without events
        if (contract_id is None or row.contract_id == contract_id) and Decimal(str(row.price.get("minimum") or 0)):
            found.add(row.contract_id)
    return sorted(found)


def rate_usage(ctx: AppContext, through: date, actor: str = ACTOR, contract_id: str | None = None) -> RatingResult:
    """Rate every contract's (or only `contract_id`'s) usage of the months whose grace ended by
    `through` into schedule items due on `through`, one transaction per contract (see the module
    docstring). A contract that fails (not active, a line or metric gone) is named in `failures`
    with nothing of it written; the others are rated all the same. UsageError for an actor who may
    not (finance, admin or a system only)."""
    check_finance(ctx, actor, "usage rating")
    last = last_rateable(through, ctx.config.model.usage.grace_days)
    result = RatingResult(through, last)
    for cid in _candidates(ctx, last, contract_id):
        try:
            rated = _rate_one(ctx, cid, through, last, actor)
        except (UsageError, ContractError) as exc:
            if contract_id is not None:
                raise
            log.warning("usage of contract %s not rated: %s", cid, exc)
            result.failures.append((cid, str(exc)))
            continue
        except AlreadyWritten as exc:
            result.failures.append((cid, f"rated meanwhile by another run: {exc}"))
            continue
        if rated is not None:
            result.contracts.append(rated)
    return result


def prune_usage_events(ctx: AppContext, on: date, actor: str = ACTOR) -> int:
    """Drop the raw events received more than `usage.retention_months` months before `on`'s month
    (whole monthly partitions on PostgreSQL: the number dropped; rows on SQLite: the number
    deleted), audited. Aggregates, transaction ids and invoices stay."""
    check_finance(ctx, actor, "usage retention")
    months = ctx.config.model.usage.retention_months
    index = on.year * 12 + on.month - 1 - months
    keep_from = f"{index // 12:04d}-{index % 12 + 1:02d}"
    with ctx.unit_of_work() as uow:
        dropped = uow.repository(UsageEventRepository).drop_events_before(keep_from)
        if dropped:
            uow.audit(
                at=ctx.clock(),
                actor=actor,
                action="usage.events_pruned",
                entity_type="usage_events",
                entity_id=keep_from,
                reason=f"raw usage events received before {keep_from} dropped ({months} months kept): {dropped}",
                after={"before": keep_from, "dropped": dropped, "retention_months": months},
            )
            uow.commit()
    return dropped
