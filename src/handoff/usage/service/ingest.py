"""Recording usage events: `record_usage(ctx, events, actor)`, one batch in one transaction.

Per event, in this order: the checks that need no storage (`usage.domain.events.check_event`:
transaction id, known metric, timestamp not beyond the future tolerance, a subscription or
customer, a measurable value); the transaction id (a repeat with the same content is a duplicate
and changes nothing; the same id with other content is refused naming `transaction_id`); the
subscription (`subscription` = a contract id or "contract:line", else the customer's one active
usage line billing the metric; in force on the event's day); the period (`usage.domain.periods.
assign_period`: its own month until the month's end + `usage.grace_days`, and while that month is
not rated; else the open month it arrived in, with a "late: ..." note). Valid events are stored
even when others of the batch are refused; the result names each refusal by index, transaction id
and field. A reversal (`reverses`: the transaction id it cancels, same subscription and metric)
takes its target's contribution back from the target's aggregate; when that month is rated
already, a count or sum is taken back in the open month (its note says so), a max, latest or
unique count billed already stands. A reversal must come after its target (in a later batch, or
later in the same one: a batch's reversals are applied after its other events).

Fast path (`bench/bench_usage_ingest.py`): one transaction per batch; one query per 5,000 for
the transaction ids known already (and the reversals' targets); the batch's subscriptions with two
queries (contracts and prices; contract versions parsed once per content hash); the deltas summed
in memory per aggregate key and each aggregate locked, read and written once; the new
transactions and raw events with one `executemany` (SQLite) or `COPY` (PostgreSQL) each; one
audit entry per batch. Two batches racing on one transaction id: the later one's insert fails on
the unique key, and the batch is done again (it then finds the id stored: a duplicate).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any

import orjson

from handoff.context import AppContext
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.usage.domain.events import UsageError, UsageEvent, check_event, describe, property_text
from handoff.usage.domain.metrics import (
    EMPTY,
    MEASURED,
    AggregateState,
    Aggregation,
    BillableMetric,
    Contribution,
    combine,
    event_value,
    group_key,
    reverse,
    unique_value,
)
from handoff.usage.domain.periods import assign_period, grace_end, next_period, period_dates, period_of
from handoff.usage.repository.aggregates import AggregateKey, AggregateRow, UsageAggregateRepository
from handoff.usage.repository.events import AlreadyStored, NewEvent, TransactionRow, UsageEventRepository
from handoff.usage.service.access import check_finance
from handoff.usage.service.metrics import load_metrics
from handoff.usage.service.states import aggregate_state
from handoff.usage.service.subscriptions import Subscription, subscriptions

MAX_BATCH = 10_000
ATTEMPTS = 3
ONE = Decimal(1)
log = logging.getLogger(__name__)

__all__ = ["MAX_BATCH", "BatchResult", "record_usage"]


@dataclass
class BatchResult:
    """What a batch did, by index into the events given (0-based): stored, repeats that changed
    nothing, refused with why (`UsageError`: record, field, problem); `notes` of stored events
    (late, reversal)."""

    accepted: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    refused: list[tuple[int, UsageError]] = field(default_factory=list)
    notes: dict[int, str] = field(default_factory=dict)

    def status(self, index: int) -> str:
        """ "accepted", "duplicate" or "refused" for the event at `index`."""
        if index in set(self.accepted):
            return "accepted"
        if index in set(self.duplicates):
            return "duplicate"
        return "refused"


@dataclass(slots=True)
class _Item:
    index: int
    event: UsageEvent
    metric: BillableMetric
    fingerprint: str
    period: str  # the month it occurred in
    closes: datetime  # that month's end + the grace
    reversal: bool


def fingerprint(event: UsageEvent) -> str:
    """SHA-256 of what makes an event itself: metric, instant, subscription and customer as sent,
    properties and the transaction it reverses. A repeat must match it to be a duplicate."""
    props = event.properties
    content = (
        event.metric,
        event.timestamp.astimezone(UTC),
        event.subscription,
        event.customer,
        event.reverses,
        props,
    )
    # property values as received: text (numbers as their text), else a number in its shortest text
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


_INSTANT_THEN_TXN = itemgetter(1, 2)
_CONTRACT_ID = attrgetter("contract.contract_id")


def _fold(contributions: Sequence[tuple[Decimal, datetime, str]]) -> AggregateState:
    """The aggregate of these events, (value, occurred at, transaction id) each: what folding the
    domain's `apply` over them gives, in one pass (sums; the maximum; the latest by instant, then
    transaction id), without an object per event."""
    if not contributions:
        return EMPTY
    if len(contributions) == 1:  # the common case with many subscriptions: one event a key
        value, at, txn = contributions[0]
        return AggregateState(1, 1, value + Decimal(0), value, at, txn, value)
    values = [c[0] for c in contributions]
    latest = max(contributions, key=_INSTANT_THEN_TXN)
    n = len(contributions)
    return AggregateState(n, n, sum(values, Decimal(0)), max(values), latest[1], latest[2], latest[0])


class _RatedMeanwhile(Exception):
    """An aggregate the batch adds to was rated by a run that committed meanwhile: redo the batch."""


class _Resolver:
    """The batch's subscriptions, looked up by the references events carry."""

    def __init__(self, found: Sequence[Subscription]) -> None:
        self._found = found
        self.by_contract: dict[str, list[Subscription]] = {}
        for contract_id, group in groupby(found, key=_CONTRACT_ID):  # found is in contract order
            self.by_contract.setdefault(contract_id, []).extend(group)
        self._by_customer: dict[str, list[Subscription]] | None = None
        self._memo: dict[tuple[str, str, str], list[Subscription] | tuple[str, str]] = {}
        self._whole_month: dict[tuple[str, str, str, str], Subscription] = {}

    @property
    def by_customer(self) -> dict[str, list[Subscription]]:
        """The subscriptions by customer, made when an event first names a customer."""
        if self._by_customer is None:
            self._by_customer = defaultdict(list)
            for sub in self._found:
                self._by_customer[sub.contract.customer_id].append(sub)
        return self._by_customer

    def candidates(self, event: UsageEvent) -> list[Subscription] | tuple[str, str]:
        """The active usage lines the event may count on (by reference and metric), or (field,
        problem)."""
        key = (event.subscription, event.customer, event.metric)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._candidates(event)
        return found

    def _candidates(self, event: UsageEvent) -> list[Subscription] | tuple[str, str]:
        metric = event.metric
        ref = event.subscription.strip()
        if ref:
            subs = self.by_contract.get(ref)
            line_key = ""
            if subs is None and ":" in ref:
                contract_id, _, line_key = ref.rpartition(":")
                subs = self.by_contract.get(contract_id)
                if subs is not None:
                    subs = [s for s in subs if s.line.line_key == line_key]
                    if not subs:
                        return "subscription", f"names no usage line {line_key!r} of contract {contract_id}"
            if subs is None:
                return "subscription", f"names no contract with usage lines ({ref!r})"
            contract_id = subs[0].contract.contract_id
            matching = [s for s in subs if s.metric == metric]
            if not matching:
                billed = ", ".join(sorted({f"{s.line.line_key}: {s.metric or '(none)'}" for s in subs}))
                return "metric", f"{metric!r} is not billed by contract {contract_id} ({billed})"
            active = [s for s in matching if s.active]
            if not active:
                return "subscription", f"contract {contract_id} is {matching[0].contract.status}: it takes no usage"
            return active
        customer = event.customer.strip()
        active = [s for s in self.by_customer.get(customer, ()) if s.metric == metric and s.active]
        if not active:
            return "customer", f"has no active subscription billing metric {metric!r} ({customer!r})"
        return active

    def resolve(self, event: UsageEvent, period: str) -> Subscription | tuple[str, str]:
        """The one usage line in force on the event's day (`period`: its month), or (field, problem)."""
        found = self.candidates(event)
        if isinstance(found, tuple):
            return found
        whole = self._whole_month.get((event.subscription, event.customer, event.metric, period))
        if whole is not None:  # the one line in force all month long
            return whole
        day = event.timestamp.astimezone(UTC).date()
        in_force = [s for s in found if s.line.start <= day and (s.line.end is None or day < s.line.end)]
        if len(in_force) == 1:
            first, after = period_dates(period)
            if len(found) == 1 and found[0].line.start <= first and (found[0].line.end or after) >= after:
                self._whole_month[(event.subscription, event.customer, event.metric, period)] = found[0]
            return in_force[0]
        if not in_force:
            s = found[0]
            until = f" until {s.line.end}" if s.line.end else ""
            return (
                "timestamp",
                f"{day} is outside contract {s.contract.contract_id} line {s.line.line_key} "
                f"(usage from {s.line.start}{until})",
            )
        names = ", ".join(f"{s.contract.contract_id}:{s.line.line_key}" for s in in_force)
        return "subscription", f"matches {len(in_force)} usage lines billing {event.metric!r} ({names}): name one"


def _contribution(metric: BillableMetric, t: TransactionRow | NewEvent) -> Contribution:
    value = Decimal(t.value) if metric.aggregation in MEASURED else ONE
    unique = t.value if metric.aggregation is Aggregation.UNIQUE_COUNT else ""
    return Contribution(value, t.occurred_at, t.transaction_id, unique)


class _Batch:
    """One attempt at storing the checked events of a batch, in `uow`'s transaction."""

    def __init__(self, ctx: AppContext, uow: UnitOfWork, metrics: Mapping[str, BillableMetric], now: datetime) -> None:
        self.ctx, self.uow, self.metrics, self.now = ctx, uow, metrics, now
        usage = ctx.config.model.usage
        self.grace = timedelta(days=usage.grace_days)
        self.events = uow.repository(UsageEventRepository)
        self.aggregates = uow.repository(UsageAggregateRepository)
        self.result = BatchResult()
        self.new_events: list[NewEvent] = []
        self.new: dict[str, NewEvent] = {}
        self.reversed: list[tuple[str, str]] = []
        self.contributions: dict[AggregateKey, list[tuple[Decimal, datetime, str]]] = defaultdict(list)
        self.reversals: dict[AggregateKey, AggregateState] = {}
        self.uniques: dict[tuple[AggregateKey, str], int] = defaultdict(int)

    def refuse(self, item: _Item, name: str, problem: str) -> None:
        self.result.refused.append((item.index, UsageError(describe(item.event), name, problem)))

    def run(self, items: Sequence[_Item], source: str) -> None:
        stored = self.events.transactions({i.event.transaction_id for i in items})
        targets = {i.event.reverses for i in items if i.event.reverses}
        if targets:  # locked: two reversals of one target meet here
            stored.update(self.events.transactions(targets, lock=True))
        fresh: list[_Item] = []
        seen: dict[str, str] = {}
        for item in items:  # repeats: a duplicate, or refused when the content differs
            txn = item.event.transaction_id
            known = stored[txn].fingerprint if txn in stored else seen.get(txn)
            if known is None:
                seen[txn] = item.fingerprint
                fresh.append(item)
            elif known == item.fingerprint:
                self.result.duplicates.append(item.index)
            else:
                self.refuse(item, "transaction_id", f"{txn!r} was recorded already with other content")
        if not fresh:
            return
        refs = [i.event.subscription.strip() for i in fresh if i.event.subscription.strip()]
        contract_ids = set(refs) | {r.rpartition(":")[0] for r in refs if ":" in r}
        customers = {i.event.customer.strip() for i in fresh if not i.event.subscription.strip()}
        resolver = _Resolver(subscriptions(self.uow, contract_ids, customers))
        subs: dict[int, Subscription] = {}
        for item in fresh:
            found = resolver.resolve(item.event, item.period)
            if isinstance(found, tuple):
                self.refuse(item, *found)
            else:
                subs[item.index] = found
        fresh = [i for i in fresh if i.index in subs]
        if not fresh:
            return
        periods = {i.period for i in fresh}
        periods.update(stored[i.event.reverses].period for i in fresh if i.event.reverses in stored)
        rated = self.aggregates.rated_periods({s.contract.contract_id for s in subs.values()}, min(periods))
        closed_by: dict[tuple[str, str, str], Callable[[str], bool]] = {}

        def closed(sub: Subscription) -> Callable[[str], bool]:
            key = (sub.contract.contract_id, sub.line.line_key, sub.metric)
            fn = closed_by.get(key)
            if fn is None:
                fn = closed_by[key] = (lambda p: (*key, p) in rated) if rated else (lambda p: False)
            return fn

        for item in fresh:
            if not item.reversal:
                self.record(item, subs[item.index], closed(subs[item.index]), source)
        for item in fresh:
            if item.reversal:
                self.reverse(item, subs[item.index], closed(subs[item.index]), stored, source)
        if self.new_events:
            self.write(source)

    def _rows(
        self, item: _Item, sub: Subscription, period: str, gk: str | None, value: str, note: str, source: str
    ) -> None:
        ev = item.event
        new = NewEvent(
            ev.transaction_id,
            item.fingerprint,
            sub.contract.contract_id,
            sub.line.line_key,
            sub.metric,
            period,
            gk,
            value,
            ev.timestamp,
            ev.reverses,
            ev.properties,
            note,
        )
        self.new_events.append(new)
        self.new[ev.transaction_id] = new
        self.result.accepted.append(item.index)
        if note:
            self.result.notes[item.index] = note

    def record(self, item: _Item, sub: Subscription, closed: Callable[[str], bool], source: str) -> None:
        ev, metric = item.event, item.metric
        if self.now < item.closes and not closed(item.period):
            period, note = item.period, ""  # the common case of `assign_period`, without its parsing
        else:
            period, note = assign_period(ev.timestamp, self.now, self.grace, closed)
        if metric.filters or len(metric.group_by) > 1:
            gk = group_key(metric, ev)
        else:  # the domain's `group_key` for no filter and at most one group-by, without its join
            gk = (property_text(ev.properties.get(metric.group_by[0])) or "") if metric.group_by else ""
        if gk is None:  # filtered out by the metric: kept for audit, counts nowhere
            self._rows(item, sub, period, None, "", note, source)
            return
        value = event_value(metric, ev)
        unique = unique_value(metric, ev)
        key = (sub.contract.contract_id, sub.line.line_key, sub.metric, period, gk)
        self.contributions[key].append((value, ev.timestamp, ev.transaction_id))
        if metric.aggregation is Aggregation.UNIQUE_COUNT:
            self.uniques[(key, unique)] += 1
        self._rows(item, sub, period, gk, unique or str(value), note, source)

    def reverse(
        self,
        item: _Item,
        sub: Subscription,
        closed: Callable[[str], bool],
        stored: Mapping[str, TransactionRow],
        source: str,
    ) -> None:
        ev, metric = item.event, item.metric
        target = self.new.get(ev.reverses) or stored.get(ev.reverses)
        if target is None:
            self.refuse(item, "reverses", f"names no recorded transaction ({ev.reverses!r}): send it after its target")
            return
        if target.reverses:
            self.refuse(item, "reverses", f"names a reversal ({target.transaction_id!r}): a reversal is final")
            return
        done = target.reversed_by or next((r for t, r in self.reversed if t == target.transaction_id), "")
        if done:
            self.refuse(item, "reverses", f"{target.transaction_id!r} is reversed already (by {done!r})")
            return
        where = (sub.contract.contract_id, sub.line.line_key, sub.metric)
        if (target.contract_id, target.line_key, target.metric) != where:
            self.refuse(
                item,
                "reverses",
                f"{target.transaction_id!r} counted on contract {target.contract_id} line {target.line_key} "
                f"metric {target.metric}, not on this event's subscription and metric",
            )
            return
        self.reversed.append((target.transaction_id, ev.transaction_id))
        if target.group_key is None:
            note = f"reverses {target.transaction_id}: it counted nowhere (filtered out by the metric)"
            self._rows(item, sub, target.period, None, "", note, source)
            return
        taken = _contribution(metric, target)
        period, note = target.period, f"reverses {target.transaction_id}"
        if closed(target.period):
            period = assign_period(self.now, self.now, self.grace, closed)[0]
            if metric.aggregation in (Aggregation.COUNT, Aggregation.SUM):
                note = f"reverses {target.transaction_id} of rated period {target.period}: taken back in {period}"
            else:
                note = (
                    f"reverses {target.transaction_id} of rated period {target.period}: "
                    f"its {metric.aggregation.value} was billed, nothing taken back"
                )
                self._rows(item, sub, period, None, target.value, note, source)
                return
        key = (target.contract_id, target.line_key, target.metric, period, target.group_key)
        self.reversals[key] = reverse(self.reversals.get(key, EMPTY), taken)
        if metric.aggregation is Aggregation.UNIQUE_COUNT and period == target.period:
            self.uniques[(key, target.value)] -= 1
        self._rows(item, sub, period, target.group_key, target.value, note, source)

    def write(self, source: str) -> None:
        """The batch's rows and its aggregates, each aggregate read and written once."""
        months = [period_of(self.now)]
        months.append(next_period(months[0]))  # made ahead, so a month's first batch rarely makes one
        self.events.ensure_partitions(months)
        deltas: dict[AggregateKey, AggregateState] = {k: _fold(v) for k, v in self.contributions.items()}
        for key, state in self.reversals.items():
            deltas[key] = combine(deltas.get(key, EMPTY), state)
        stored = self.aggregates.lock(deltas, self.now) if deltas else {}
        for new in self.new_events:
            if new.group_key is not None:
                new.aggregate_id = stored[(new.contract_id, new.line_key, new.metric, new.period, new.group_key)].id
        by_txn = dict(self.reversed)
        for txn in list(by_txn):
            if txn in self.new:  # reversed within its own batch
                self.new[txn].reversed_by = by_txn.pop(txn)
        self.events.add_new(self.new_events, self.now, source)
        self.events.mark_reversed(list(by_txn.items()))
        if not deltas:
            return
        uniques = self._unique_changes(stored)
        rows: list[dict[str, Any]] = []
        for key, delta in deltas.items():
            row = stored[key]
            if row.rated_key is not None:
                raise _RatedMeanwhile(f"aggregate {row.id} ({'/'.join(key)}) was rated meanwhile")
            state = combine(aggregate_state(row), delta)
            rows.append(
                {
                    "_id": row.id,
                    "events": state.events,
                    "count": state.count,
                    "total": state.total,
                    "maximum": state.maximum,
                    "latest_at": state.latest_at,
                    "latest_txn": state.latest_txn or None,
                    "latest_value": state.latest_value,
                    "uniques": row.uniques + uniques.get(row.id, 0),
                    "dirty": state.dirty,
                    "updated_at": self.now,
                }
            )
        self.aggregates.save(rows)

    def _unique_changes(self, stored: Mapping[AggregateKey, AggregateRow]) -> dict[int, int]:
        """Apply the batch's refcount changes; per aggregate id, the change in distinct values."""
        if not self.uniques:
            return {}
        changes = {(stored[key].id, value): n for (key, value), n in self.uniques.items() if n}
        current = self.aggregates.lock_values(changes)
        counted: dict[int, int] = defaultdict(int)
        rows = []
        for (aggregate_id, value), n in changes.items():
            row_id, before = current[(aggregate_id, value)]
            after = before + n
            counted[aggregate_id] += (after > 0) - (before > 0)
            rows.append({"_id": row_id, "refcount": after})
        self.aggregates.save_values(rows)
        return counted


def record_usage(ctx: AppContext, events: Sequence[UsageEvent], actor: str, *, source: str = "api") -> BatchResult:
    """Record a batch of usage events (at most `MAX_BATCH`) in one transaction: each stored,
    a duplicate or refused (see the module docstring); the result by index. UsageError (nothing
    written) when the batch is too large or the actor may not record usage."""
    check_finance(ctx, actor, f"usage batch from {source}")
    if not source.strip() or len(source) > 100:
        raise UsageError("usage batch", "source", f"must be 1-100 characters ({source!r})")
    if len(events) > MAX_BATCH:
        raise UsageError(f"usage batch from {source}", "events", f"has {len(events):,} events: at most {MAX_BATCH:,}")
    now = ctx.clock()
    tolerance = timedelta(seconds=ctx.config.model.usage.future_tolerance_seconds)
    grace = timedelta(days=ctx.config.model.usage.grace_days)
    metrics = load_metrics(ctx)
    checked = BatchResult()
    items: list[_Item] = []
    closes: dict[str, datetime] = {}
    for index, event in enumerate(events):
        metric = metrics.get(event.metric) if isinstance(event.metric, str) else None
        problem = check_event(event, metric, now, tolerance)
        if problem is not None:
            checked.refused.append((index, problem))
            continue
        assert metric is not None
        period = period_of(event.timestamp)
        end = closes.get(period)
        if end is None:
            end = closes[period] = grace_end(period, grace)
        items.append(_Item(index, event, metric, fingerprint(event), period, end, event.is_reversal))
    batch: _Batch | None = None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with ctx.unit_of_work() as uow:
                batch = _Batch(ctx, uow, metrics, now)
                if items:
                    batch.run(items, source)
                result = batch.result
                result.refused = sorted(checked.refused + result.refused, key=lambda r: r[0])
                result.accepted.sort()
                result.duplicates.sort()
                if result.accepted:
                    _audit(uow, result, events, actor, source, now)
                    uow.commit()
            break
        except (AlreadyStored, _RatedMeanwhile) as exc:
            if attempt == ATTEMPTS:
                raise
            log.info("usage batch from %s done again (attempt %d): %s", source, attempt + 1, exc)
    assert batch is not None
    return batch.result


def _audit(
    uow: UnitOfWork, result: BatchResult, events: Sequence[UsageEvent], actor: str, source: str, now: datetime
) -> None:
    accepted = [events[i].transaction_id for i in sorted(result.accepted)]
    digest = hashlib.sha256("\n".join(accepted).encode()).hexdigest()
    uow.audit(
        at=now,
        actor=actor,
        action="usage.recorded",
        entity_type="usage_batch",
        entity_id=f"{source}:{digest[:16]}",
        reason=f"{len(result.accepted)} event(s) recorded, {len(result.duplicates)} duplicate(s), "
        f"{len(result.refused)} refused",
        after={
            "source": source,
            "accepted": len(result.accepted),
            "first": accepted[0],
            "last": accepted[-1],
            "sha256": digest,
            "duplicates": len(result.duplicates),
            "refused": [[i, e.field] for i, e in result.refused[:100]],
            "late": len([n for n in result.notes.values() if n.startswith("late")]),
        },
    )
