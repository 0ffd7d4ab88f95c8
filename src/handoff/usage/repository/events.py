"""Usage events as stored: the idempotency keys (`usage_transactions`), the raw events
(`usage_events`) and, read-only, the contracts events are resolved against.

Built for bulk: a batch's transaction ids are looked up with one query per `CHUNK`, new rows are
written with one `executemany` per table (`kernel.storage.bulk`: on SQLite straight to the driver
with the statement compiled once) and, on PostgreSQL with psycopg 3, with one `COPY ... FROM STDIN`
per table instead (psycopg's `executemany` sends one INSERT per row).

PostgreSQL partitions `usage_events` by month of `received_at` (migration 0027): `ensure_partitions`
makes a month's partition (`usage_events_pYYYY_MM`) when it is missing, in the caller's transaction,
under a transaction-scoped advisory lock so that two writers never race on one; `drop_partitions`
drops whole months for the retention. SQLite keeps one plain table.

Read-only, outside this package's tables: `contracts` and `contract_versions` (which contract and
current version a subscription or customer reference names); `contracts` offers no service read by
id in bulk yet.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    Connection,
    Engine,
    String,
    Table,
    any_,
    bindparam,
    column,
    delete,
    func,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.exc import IntegrityError

from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many, update_many
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.usage.repository.parameters import in_one_parameter

CHUNK = 5_000
PARTITION_LOCK = 0x75736167  # "usag": the advisory lock serialising partition creation
_t, _e = schema.usage_transactions, schema.usage_events
_c, _v = schema.contracts, schema.contract_versions

# a unique key refusing a row: SQLAlchemy's error, or the driver's own from the SQLite fast path
REFUSED = (IntegrityError, sqlite3.IntegrityError)


class AlreadyStored(Exception):
    """A transaction id was stored meanwhile by another transaction: roll back and try again."""


@dataclass(frozen=True, slots=True)
class TransactionRow:
    """An accepted transaction id and where its event counted."""

    transaction_id: str
    fingerprint: str
    contract_id: str
    line_key: str
    metric: str
    period: str
    group_key: str | None  # None: filtered out by the metric
    value: str
    occurred_at: datetime
    received_at: datetime
    reverses: str
    reversed_by: str


@dataclass(slots=True)
class NewEvent:
    """An accepted event of the batch being written: its transaction row and raw event in one."""

    transaction_id: str
    fingerprint: str
    contract_id: str
    line_key: str
    metric: str
    period: str
    group_key: str | None
    value: str
    occurred_at: datetime
    reverses: str
    properties: Mapping[str, object]  # as received: text, or a number
    note: str
    reversed_by: str = ""
    aggregate_id: int | None = None  # the aggregate it counts in, once locked


@dataclass(frozen=True, slots=True)
class ContractRef:
    """A contract events may name: its customer, status and current version's content hash."""

    contract_id: str
    customer_id: str
    status: str
    version: int
    content_hash: str
    currency: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A raw event of one aggregate, for recomputing it (max, latest)."""

    transaction_id: str
    occurred_at: datetime
    value: str
    reverses: str


def partition_name(month: str) -> str:
    """`usage_events_p2027_01` for "2027-01"."""
    return "usage_events_p" + month.replace("-", "_")


def _month_bounds(month: str) -> tuple[str, str]:
    year, mon = int(month[:4]), int(month[5:7])
    nxt = f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"
    return f"{month}-01 00:00:00+00", f"{nxt}-01 00:00:00+00"


def _copy_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """New rows (all with the keys of the first) with one COPY FROM STDIN on the connection's
    psycopg 3 connection, in its transaction, each value through its column type's bind processing
    first; a unique key refusing a row raises AlreadyStored (roll the transaction back)."""
    import psycopg

    keys = tuple(rows[0])
    dialect = conn.dialect
    steps = [(k, table.c[k].type.dialect_impl(dialect).bind_processor(dialect)) for k in keys]
    columns = ", ".join(dialect.identifier_preparer.quote(table.c[k].name) for k in keys)
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({columns}) FROM STDIN"
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[k] if process is None else process(row[k]) for k, process in steps])
    except psycopg.errors.UniqueViolation as exc:
        raise AlreadyStored(str(exc)) from None


_T_COLUMNS = (
    "transaction_id",
    "fingerprint",
    "contract_id",
    "line_key",
    "metric",
    "period",
    "group_key",
    "value",
    "occurred_at",
    "received_at",
    "reverses",
    "reversed_by",
)
_E_COLUMNS = (
    "transaction_id",
    "contract_id",
    "line_key",
    "metric",
    "occurred_at",
    "received_at",
    "period",
    "group_key",
    "value",
    "properties",
    "reverses",
    "note",
    "source",
    "aggregate_id",
)
_SQLITE_TRANSACTIONS = (
    f"INSERT INTO usage_transactions ({', '.join(_T_COLUMNS)}) VALUES ({', '.join('?' * len(_T_COLUMNS))})"
)
_SQLITE_EVENTS = f"INSERT INTO usage_events ({', '.join(_E_COLUMNS)}) VALUES ({', '.join('?' * len(_E_COLUMNS))})"
assert set(_T_COLUMNS) == {c.key for c in _t.c} - {"id"} and set(_E_COLUMNS) == {c.key for c in _e.c} - {"id"}


def _sqlite_time(at: datetime) -> str:
    """An aware datetime as SQLAlchemy stores it on SQLite (`kernel.storage.types.UTCDateTime`):
    naive UTC, "2027-01-31 23:59:59.000000"."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _transaction_row(e: NewEvent, received_at: datetime) -> dict[str, Any]:
    return {
        "transaction_id": e.transaction_id,
        "fingerprint": e.fingerprint,
        "contract_id": e.contract_id,
        "line_key": e.line_key,
        "metric": e.metric,
        "period": e.period,
        "group_key": e.group_key,
        "value": e.value,
        "occurred_at": e.occurred_at,
        "received_at": received_at,
        "reverses": e.reverses,
        "reversed_by": e.reversed_by,
    }


def _event_row(e: NewEvent, received_at: datetime, source: str) -> dict[str, Any]:
    return {
        "transaction_id": e.transaction_id,
        "contract_id": e.contract_id,
        "line_key": e.line_key,
        "metric": e.metric,
        "occurred_at": e.occurred_at,
        "received_at": received_at,
        "period": e.period,
        "group_key": e.group_key,
        "value": e.value,
        "properties": {k: v if isinstance(v, str | int | float) else str(v) for k, v in e.properties.items()},
        "reverses": e.reverses,
        "note": e.note,
        "source": source,
        "aggregate_id": e.aggregate_id,
    }


def _transaction(r: Any) -> TransactionRow:
    return TransactionRow(
        r.transaction_id,
        r.fingerprint,
        r.contract_id,
        r.line_key,
        r.metric,
        r.period,
        r.group_key,
        r.value,
        r.occurred_at,
        r.received_at,
        r.reverses,
        r.reversed_by,
    )


class UsageEventRepository(OnUnitOfWorkOrEngine):
    """Transactions and raw events on a unit of work (reads and writes) or an engine (reads)."""

    def __init__(self, on: UnitOfWork | Engine) -> None:
        super().__init__(on)
        self._postgres = self._engine.dialect.name == "postgresql"
        self._copy = self._postgres and self._engine.dialect.driver == "psycopg"

    # -- idempotency keys -----------------------------------------------------------------------

    def transactions(self, transaction_ids: Iterable[str], *, lock: bool = False) -> dict[str, TransactionRow]:
        """The stored transactions among these ids (one query per CHUNK); `lock`: held until the
        transaction ends on PostgreSQL (a reversal's target)."""
        ids = sorted(set(transaction_ids))
        found: dict[str, TransactionRow] = {}
        with self._connect() as conn:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                # the chunk as one parameter (an array; a JSON list on SQLite), not 5,000 of them
                if self._postgres:
                    q = select(_t).where(_t.c.transaction_id == any_(bindparam("ids", chunk, type_=ARRAY(String()))))
                    if lock:
                        q = q.with_for_update()
                else:
                    listed = select(column("value", String)).select_from(
                        func.json_each(bindparam("ids", orjson.dumps(chunk).decode()))
                    )
                    q = select(_t).where(_t.c.transaction_id.in_(listed.scalar_subquery()))
                for r in conn.execute(q):
                    found[r.transaction_id] = _transaction(r)
        return found

    def _add(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if self._copy:
            _copy_rows(self._tx, table, rows)
            return
        try:
            insert_many(self._tx, table, rows)
        except REFUSED as exc:
            raise AlreadyStored(str(getattr(exc, "orig", exc))) from None

    def add_transactions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """New transactions (every column but `id`); AlreadyStored when one was stored meanwhile."""
        self._add(_t, rows)

    def add_new(self, events: Sequence[NewEvent], received_at: datetime, source: str) -> None:
        """A batch's accepted events: one `usage_transactions` row and one `usage_events` row each
        (their months' partitions must exist); AlreadyStored when a transaction id was stored
        meanwhile. On SQLite each value is converted once for both rows (datetimes to SQLite's
        text form, properties to JSON) and the rows go to the driver's `executemany` as tuples."""
        if not events:
            return
        if self._postgres:
            self._add(_t, [_transaction_row(e, received_at) for e in events])
            self._add(_e, [_event_row(e, received_at, source) for e in events])
            return
        received = _sqlite_time(received_at)
        txns, raws = [], []
        for e in events:
            occurred = _sqlite_time(e.occurred_at)
            txns.append(
                (
                    e.transaction_id,
                    e.fingerprint,
                    e.contract_id,
                    e.line_key,
                    e.metric,
                    e.period,
                    e.group_key,
                    e.value,
                    occurred,
                    received,
                    e.reverses,
                    e.reversed_by,
                )
            )
            raws.append(
                (
                    e.transaction_id,
                    e.contract_id,
                    e.line_key,
                    e.metric,
                    occurred,
                    received,
                    e.period,
                    e.group_key,
                    e.value,
                    orjson.dumps(e.properties, default=str).decode(),  # a Decimal as its text
                    e.reverses,
                    e.note,
                    source,
                    e.aggregate_id,
                )
            )
        cursor = self._tx.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(_SQLITE_TRANSACTIONS, txns)
            cursor.executemany(_SQLITE_EVENTS, raws)
        except sqlite3.IntegrityError as exc:
            raise AlreadyStored(str(exc)) from None
        finally:
            cursor.close()

    def mark_reversed(self, pairs: Sequence[tuple[str, str]]) -> None:
        """(target, reversal): the target transaction is cancelled by the reversal."""
        if not pairs:
            return
        ids = self.ids_of([target for target, _ in pairs])
        update_many(self._tx, _t, [{"_id": ids[target], "reversed_by": reversal} for target, reversal in pairs])

    def ids_of(self, transaction_ids: Sequence[str]) -> dict[str, int]:
        q = select(_t.c.transaction_id, _t.c.id).where(_t.c.transaction_id.in_(list(transaction_ids)))
        return {r.transaction_id: r.id for r in self._tx.execute(q)}

    # -- raw events -----------------------------------------------------------------------------

    def ensure_partitions(self, months: Iterable[str]) -> list[str]:
        """PostgreSQL: make the monthly partitions of `usage_events` missing among `months`
        ("2027-01"), in this transaction; the names made (nothing on SQLite)."""
        if not self._postgres:
            return []
        wanted = sorted(set(months))
        names = [partition_name(m) for m in wanted]
        exists = "SELECT n FROM unnest(CAST(:names AS text[])) AS n WHERE to_regclass(n) IS NULL"
        missing = set(self._tx.execute(text(exists), {"names": names}).scalars())
        if not missing:
            return []
        self._tx.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})
        made = []
        for month, name in zip(wanted, names, strict=True):
            if name not in missing:
                continue
            low, high = _month_bounds(month)
            self._tx.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF usage_events "
                    f"FOR VALUES FROM ('{low}') TO ('{high}')"
                )
            )
            made.append(name)
        return made

    def add_events(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """New raw events (every column but `id`); their months' partitions must exist."""
        self._add(_e, rows)

    def events_of(self, aggregate_id: int) -> list[StoredEvent]:
        """The raw events counted in one aggregate whose transaction is not reversed (to recompute
        a max or latest after a reversal), in id order."""
        q = (
            select(_e.c.transaction_id, _e.c.occurred_at, _e.c.value, _e.c.reverses, _t.c.reversed_by)
            .join(_t, _t.c.transaction_id == _e.c.transaction_id)
            .where(_e.c.aggregate_id == aggregate_id)
            .order_by(_e.c.id)
        )
        with self._connect() as conn:
            rows = conn.execute(q).all()
        return [StoredEvent(r.transaction_id, r.occurred_at, r.value, r.reverses) for r in rows if not r.reversed_by]

    def count_events(self, contract_id: str | None = None) -> int:
        q = select(func.count()).select_from(_e)
        if contract_id is not None:
            q = q.where(_e.c.contract_id == contract_id)
        with self._connect() as conn:
            return int(conn.execute(q).scalar_one())

    # -- retention ------------------------------------------------------------------------------

    def partitions(self) -> list[str]:
        """PostgreSQL: the months ("2027-01") `usage_events` has partitions for, oldest first."""
        if not self._postgres:
            return []
        q = text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST('usage_events' AS regclass) ORDER BY c.relname"
        )
        with self._connect() as conn:
            names = conn.execute(q).scalars().all()
        return [n.removeprefix("usage_events_p").replace("_", "-") for n in names if n.startswith("usage_events_p")]

    def drop_events_before(self, month: str) -> int:
        """Drop the raw events received before `month` ("2025-01") began: whole partitions on
        PostgreSQL (the number dropped), rows on SQLite (the number deleted)."""
        if self._postgres:
            old = [m for m in self.partitions() if m < month]
            for m in old:
                self._tx.execute(text(f"DROP TABLE IF EXISTS {partition_name(m)}"))
            return len(old)
        start = datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=UTC)
        return int(self._tx.execute(delete(_e).where(_e.c.received_at < start)).rowcount or 0)

    # -- contracts named by events (read-only) --------------------------------------------------

    def contracts(self, contract_ids: Iterable[str], customer_ids: Iterable[str]) -> list[ContractRef]:
        """The contracts among `contract_ids` and those of the customers `customer_ids`, with the
        content hash of their current version."""
        ids, customers = sorted(set(contract_ids)), sorted(set(customer_ids))
        found: dict[str, ContractRef] = {}
        with self._connect() as conn:
            for start in range(0, max(len(ids), len(customers)), CHUNK):
                where = []
                if ids[start : start + CHUNK]:
                    where.append(in_one_parameter(_c.c.contract_id, ids[start : start + CHUNK], self._postgres))
                if customers[start : start + CHUNK]:
                    where.append(in_one_parameter(_c.c.customer_id, customers[start : start + CHUNK], self._postgres))
                q = (
                    select(
                        _c.c.contract_id,
                        _c.c.customer_id,
                        _c.c.status,
                        _c.c.current_version,
                        _c.c.currency,
                        _v.c.content_hash,
                    )
                    .join(_v, (_v.c.contract_id == _c.c.contract_id) & (_v.c.version == _c.c.current_version))
                    .where(or_(*where))
                )
                for r in conn.execute(q).all():  # fetchall: thousands of rows a batch
                    contract_id, customer_id, status, version, currency, content_hash = r  # the select's order
                    found[contract_id] = ContractRef(contract_id, customer_id, status, version, content_hash, currency)
        return list(found.values())

    def contract_contents(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
        """The stored content of these (contract, version)s."""
        wanted = sorted(set(keys))
        found: dict[tuple[str, int], dict[str, Any]] = {}
        with self._connect() as conn:
            for start in range(0, len(wanted), 1_000):
                q = select(_v.c.contract_id, _v.c.version, _v.c.content).where(
                    tuple_(_v.c.contract_id, _v.c.version).in_(wanted[start : start + 1_000])
                )
                for r in conn.execute(q):
                    found[(r.contract_id, r.version)] = r.content
        return found

    def contracts_with_usage_since(self, after: str = "", limit: int = 1_000) -> list[str]:
        """Contract ids after `after` (by id) that have transactions, for walking them."""
        q = (
            select(_t.c.contract_id)
            .where(_t.c.contract_id > after)
            .group_by(_t.c.contract_id)
            .order_by(_t.c.contract_id)
            .limit(limit)
        )
        with self._connect() as conn:
            return list(conn.execute(q).scalars())


__all__ = [
    "AlreadyStored",
    "ContractRef",
    "NewEvent",
    "StoredEvent",
    "TransactionRow",
    "UsageEventRepository",
    "partition_name",
]
