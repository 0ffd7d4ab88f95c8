"""Usage aggregates as stored: one `usage_aggregates` row per (contract, line, metric, period, group)
with its running state, the distinct values of unique-count aggregates (`usage_unique_values`, with
how many events hold each) and prepaid credits drawn (`usage_credits`).

An ingest batch locks the aggregates it touches once (`lock`: the missing ones inserted first, so
two writers of a new key meet on its unique index, then all read `FOR UPDATE` on PostgreSQL) and
writes each once (`save`, one `executemany`). Rating reads only these rows, never raw events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import ARRAY, Engine, Integer, String, bindparam, func, select, tuple_

from handoff.kernel.money import ZERO
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many, update_many
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.usage.repository.parameters import in_one_parameter

CHUNK = 1_000  # keys of five columns per query (SQLite's bound-parameter limit)
_a, _u, _k = schema.usage_aggregates, schema.usage_unique_values, schema.usage_credits
AggregateKey = tuple[str, str, str, str, str]  # contract, line, metric, period, group
_KEY = (_a.c.contract_id, _a.c.line_key, _a.c.metric, _a.c.period, _a.c.group_key)
STATE_COLUMNS = ("events", "count", "total", "maximum", "latest_at", "latest_txn", "latest_value", "uniques", "dirty")


@dataclass(frozen=True, slots=True)
class AggregateRow:
    """An aggregate as stored (`latest_txn` '' when none)."""

    id: int
    contract_id: str
    line_key: str
    metric: str
    period: str
    group_key: str
    events: int
    count: int
    total: Decimal
    maximum: Decimal | None
    latest_at: datetime | None
    latest_txn: str
    latest_value: Decimal | None
    uniques: int
    dirty: bool
    rated_key: str | None
    rated_at: datetime | None

    @property
    def key(self) -> AggregateKey:
        return (self.contract_id, self.line_key, self.metric, self.period, self.group_key)


def _row(r: Any) -> AggregateRow:
    # the selected columns are the dataclass's fields in order (asserted below)
    return AggregateRow(*r[:11], r[11] or "", r[12], r[13], bool(r[14]), r[15], r[16])  # type: ignore[call-arg]


_COLUMNS = [c for c in _a.c if c.key != "updated_at"]
assert tuple(c.key for c in _COLUMNS) == AggregateRow.__slots__


class UsageAggregateRepository(OnUnitOfWorkOrEngine):
    """Aggregates, unique values and credits on a unit of work (reads and writes) or an engine (reads)."""

    def __init__(self, on: UnitOfWork | Engine) -> None:
        super().__init__(on)
        self._postgres = self._engine.dialect.name == "postgresql"

    # -- ingest ---------------------------------------------------------------------------------

    def _select(self, keys: Sequence[AggregateKey], lock: bool) -> dict[AggregateKey, AggregateRow]:
        """The rows of exactly `keys`, found by the unique key: the chunk's keys sent as one
        parameter per column (arrays on PostgreSQL, one JSON list of lists on SQLite), not as
        thousands of literal parameters; on PostgreSQL locked in id order."""
        found: dict[AggregateKey, AggregateRow] = {}
        with self._connect() as conn:
            for start in range(0, len(keys), CHUNK * 5):
                chunk = keys[start : start + CHUNK * 5]
                if self._postgres:
                    listed = (
                        func.unnest(
                            *(bindparam(f"k{i}", [k[i] for k in chunk], type_=ARRAY(String())) for i in range(5))
                        )
                        .table_valued("c", "l", "m", "p", "g")
                        .render_derived()
                    )
                    q = select(*_COLUMNS).where(tuple_(*_KEY).in_(select(*listed.c)))
                    if lock:
                        q = q.order_by(_a.c.id).with_for_update()
                else:
                    each = func.json_each(bindparam("keys", orjson.dumps(chunk).decode())).table_valued("value")
                    parts = [func.json_extract(each.c.value, f"$[{i}]") for i in range(5)]
                    q = select(*_COLUMNS).where(tuple_(*_KEY).in_(select(*parts).select_from(each)))
                for r in conn.execute(q).all():  # fetchall: thousands of rows a batch
                    row = _row(r)
                    found[row.key] = row
        return found

    def get(self, keys: Iterable[AggregateKey]) -> dict[AggregateKey, AggregateRow]:
        """The stored aggregates among `keys` (no lock)."""
        return self._select(sorted(set(keys)), lock=False)

    def lock(self, keys: Iterable[AggregateKey], now: datetime) -> dict[AggregateKey, AggregateRow]:
        """The aggregates of `keys`, made empty where missing, locked until the transaction ends."""
        wanted = sorted(set(keys))
        found = self._select(wanted, lock=True)
        missing = [k for k in wanted if k not in found]
        if missing:
            empty = {
                "events": 0,
                "count": 0,
                "total": ZERO,
                "maximum": None,
                "latest_at": None,
                "latest_txn": None,
                "latest_value": None,
                "uniques": 0,
                "dirty": False,
                "rated_key": None,
                "rated_at": None,
                "updated_at": now,
            }
            rows = [
                {"contract_id": c, "line_key": ln, "metric": m, "period": p, "group_key": g, **empty}
                for c, ln, m, p, g in missing
            ]
            insert_many(
                self._tx, _a, rows, ignore_conflicts_on=("contract_id", "line_key", "metric", "period", "group_key")
            )
            found.update(self._select(missing, lock=True))
        return found

    def save(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Changed aggregates: `_id` the row's id, the other keys (the same in every row) the columns set."""
        update_many(self._tx, _a, rows)

    def lock_values(self, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, int]]:
        """(id, refcount) of these (aggregate id, value)s of unique-count aggregates, made with 0
        where missing, locked until the transaction ends."""
        wanted = sorted(set(pairs))
        if not wanted:
            return {}

        def read(keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, int]]:
            out: dict[tuple[int, str], tuple[int, int]] = {}
            for start in range(0, len(keys), CHUNK * 2):
                chunk = keys[start : start + CHUNK * 2]
                pair = tuple_(_u.c.aggregate_id, _u.c.value)
                q = select(_u.c.id, _u.c.aggregate_id, _u.c.value, _u.c.refcount)
                if self._postgres:  # the chunk as two array parameters, not thousands of them
                    listed = (
                        func.unnest(
                            bindparam("ids", [k[0] for k in chunk], type_=ARRAY(Integer())),
                            bindparam("values", [k[1] for k in chunk], type_=ARRAY(String())),
                        )
                        .table_valued("a", "v")
                        .render_derived()
                    )
                    q = q.where(pair.in_(select(*listed.c))).order_by(_u.c.id).with_for_update()
                else:  # one JSON list of [id, value] pairs
                    each = func.json_each(bindparam("pairs", orjson.dumps(chunk).decode())).table_valued("value")
                    parts = [func.json_extract(each.c.value, f"$[{i}]") for i in range(2)]
                    q = q.where(pair.in_(select(*parts).select_from(each)))
                for r in self._tx.execute(q).all():
                    out[(r.aggregate_id, r.value)] = (r.id, r.refcount)
            return out

        found = read(wanted)
        missing = [k for k in wanted if k not in found]
        if missing:
            insert_many(
                self._tx,
                _u,
                [{"aggregate_id": a, "value": v, "refcount": 0} for a, v in missing],
                ignore_conflicts_on=("aggregate_id", "value"),
            )
            found.update(read(missing))
        return found

    def save_values(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Changed refcounts: `_id` and `refcount`."""
        update_many(self._tx, _u, rows)

    def rated_periods(self, contract_ids: Iterable[str], since: str) -> set[tuple[str, str, str, str]]:
        """(contract, line, metric, period) rated already, of periods from `since` on."""
        ids = sorted(set(contract_ids))
        found: set[tuple[str, str, str, str]] = set()
        with self._connect() as conn:
            for start in range(0, len(ids), CHUNK * 5):
                q = (
                    select(_a.c.contract_id, _a.c.line_key, _a.c.metric, _a.c.period)
                    .where(
                        in_one_parameter(_a.c.contract_id, ids[start : start + CHUNK * 5], self._postgres),
                        _a.c.period >= since,
                        _a.c.rated_key.is_not(None),
                    )
                    .distinct()
                )
                found.update((r.contract_id, r.line_key, r.metric, r.period) for r in conn.execute(q))
        return found

    # -- rating ---------------------------------------------------------------------------------

    def contracts_with_open(self, through_period: str, contract_id: str | None = None) -> list[str]:
        """Contracts with aggregates not rated yet of periods up to `through_period`, by id."""
        q = select(_a.c.contract_id).where(_a.c.rated_key.is_(None), _a.c.period <= through_period)
        if contract_id is not None:
            q = q.where(_a.c.contract_id == contract_id)
        with self._connect() as conn:
            return sorted(set(conn.execute(q.distinct()).scalars()))

    def open_of(self, contract_id: str, through_period: str, *, lock: bool = False) -> list[AggregateRow]:
        """The contract's aggregates not rated yet of periods up to `through_period`, in line,
        metric, period and group order; `lock`: held until the transaction ends (PostgreSQL)."""
        q = select(*_COLUMNS).where(
            _a.c.contract_id == contract_id, _a.c.rated_key.is_(None), _a.c.period <= through_period
        )
        if lock and self._postgres:
            q = q.with_for_update()
        q = q.order_by(_a.c.line_key, _a.c.metric, _a.c.period, _a.c.group_key)
        with self._connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def periods_of(self, contract_id: str) -> set[tuple[str, str, str]]:
        """(line, metric, period) the contract has aggregates for, rated or not."""
        q = select(_a.c.line_key, _a.c.metric, _a.c.period).where(_a.c.contract_id == contract_id).distinct()
        with self._connect() as conn:
            return {(r.line_key, r.metric, r.period) for r in conn.execute(q)}

    def mark_rated(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Rated aggregates: `_id`, their state columns (recomputed ones clean) and `rated_key`,
        `rated_at`, `updated_at`."""
        update_many(self._tx, _a, rows)

    def of_period(self, contract_ids: Iterable[str], period: str) -> list[AggregateRow]:
        """The aggregates of these contracts for one period (current usage), in contract, line,
        metric and group order."""
        ids = sorted(set(contract_ids))
        found: list[AggregateRow] = []
        with self._connect() as conn:
            for start in range(0, len(ids), CHUNK * 5):
                q = (
                    select(*_COLUMNS)
                    .where(_a.c.contract_id.in_(ids[start : start + CHUNK * 5]), _a.c.period == period)
                    .order_by(_a.c.contract_id, _a.c.line_key, _a.c.metric, _a.c.group_key)
                )
                found.extend(_row(r) for r in conn.execute(q))
        return found

    def contracts_in_period(self, period: str, limit: int = 1_000) -> list[str]:
        """Up to `limit` contracts with aggregates in `period`, by id."""
        q = (
            select(_a.c.contract_id)
            .where(_a.c.period == period)
            .group_by(_a.c.contract_id)
            .order_by(_a.c.contract_id)
            .limit(limit)
        )
        with self._connect() as conn:
            return list(conn.execute(q).scalars())

    def unique_counts(self, aggregate_ids: Iterable[int]) -> dict[int, int]:
        """Distinct values still counted (refcount above zero) per aggregate."""
        ids = sorted(set(aggregate_ids))
        if not ids:
            return {}
        q = (
            select(_u.c.aggregate_id, func.count())
            .where(_u.c.aggregate_id.in_(ids), _u.c.refcount > 0)
            .group_by(_u.c.aggregate_id)
        )
        with self._connect() as conn:
            return {a: int(n) for a, n in conn.execute(q)}

    # -- prepaid credits ------------------------------------------------------------------------

    def credits_drawn(self, contract_id: str) -> dict[str, Decimal]:
        """Prepaid credits drawn so far per line of the contract."""
        q = select(_k.c.line_key, _k.c.drawn).where(_k.c.contract_id == contract_id)
        drawn: dict[str, Decimal] = {}
        with self._connect() as conn:
            for line_key, amount in conn.execute(q):
                drawn[line_key] = drawn.get(line_key, ZERO) + amount
        return drawn

    def add_credits(self, rows: Sequence[Mapping[str, Any]]) -> None:
        insert_many(self._tx, _k, rows)

    def credit_movements(self, contract_id: str) -> list[tuple[str, str, str, Decimal, Decimal, datetime]]:
        """(line, period, period key, drawn, balance after, when) of the contract, oldest first."""
        q = (
            select(_k.c.line_key, _k.c.period, _k.c.period_key, _k.c.drawn, _k.c.balance, _k.c.drawn_at)
            .where(_k.c.contract_id == contract_id)
            .order_by(_k.c.id)
        )
        with self._connect() as conn:
            return [tuple(r) for r in conn.execute(q)]
