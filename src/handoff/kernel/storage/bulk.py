"""Many-row writes with the per-row work cut to the bone.

For every row of an `executemany`, SQLAlchemy builds a parameter dict through its compiler and
runs each value's bind processor through several layers; for a bulk import (tens of thousands of
rows per transaction into half a dozen tables) that costs more than SQLite's own work. On SQLite
these helpers compile each statement shape once, look each column's bind processor up once
(Decimal to text, UTC datetimes, JSON, booleans: the same processors SQLAlchemy would run), and hand
plain tuples to the driver's `executemany` on the same connection, hence the same transaction.

PostgreSQL keeps SQLAlchemy's own path, whose multi-row VALUES batching is already the fast way
there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from handoff.kernel.storage.types import UTCDateTime


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    keys: tuple[str, ...]  # the row key feeding each positional parameter, in order
    processors: tuple[Callable[[Any], Any] | None, ...]
    repeated: tuple[bool, ...]  # columns whose rows mostly share one value (a batch's "now")
    defaults: dict[str, Any]  # Python-side column defaults for columns an INSERT's rows leave out


_prepared: dict[tuple[Any, ...], _Prepared] = {}


def _prepare(
    dialect: Dialect, shape: tuple[Any, ...], build: Callable[[], UpdateBase], column_keys: Sequence[str]
) -> _Prepared:
    cache_key = (dialect.name, *shape)
    found = _prepared.get(cache_key)
    if found is None:
        stmt = build()
        compiled = stmt.compile(dialect=dialect, column_keys=list(column_keys))
        assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
        names = tuple(compiled.positiontup)
        types = [compiled.binds[n].type for n in names]
        processors = tuple(t.dialect_impl(dialect).bind_processor(dialect) for t in types)
        repeated = tuple(isinstance(t, UTCDateTime) for t in types)
        defaults = {
            c.key: c.default.arg
            for c in stmt.table.columns
            if column_keys
            and c.key in names
            and c.key not in column_keys
            and isinstance(c.default, ScalarElementColumnDefault)
        }
        found = _prepared[cache_key] = _Prepared(str(compiled), names, processors, repeated, defaults)
    return found


def _remember_last(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`process` that reuses its last result when handed the very same object again."""
    last_in: Any = object()
    last_out: Any = None

    def run(value: Any) -> Any:
        nonlocal last_in, last_out
        if value is not last_in:
            last_in, last_out = value, process(value)
        return last_out

    return run


def _write(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    shape: tuple[Any, ...],
    build: Callable[[], UpdateBase],
    column_keys: Sequence[str] = (),
) -> None:
    """Run the statement `build` makes once per row: on SQLite through the prepared shape, elsewhere
    through SQLAlchemy."""
    if conn.dialect.name != "sqlite":
        conn.execute(build(), list(rows))
        return
    prepared = _prepare(conn.dialect, shape, build, column_keys)
    if prepared.defaults:
        rows = [{**prepared.defaults, **row} for row in rows]
    keys = prepared.keys
    processors = [
        _remember_last(p) if p is not None and again else p
        for p, again in zip(prepared.processors, prepared.repeated, strict=True)
    ]
    try:
        if all(p is None for p in processors):
            params = [tuple([row[k] for k in keys]) for row in rows]
        else:
            pairs = tuple(zip(keys, processors, strict=True))
            params = [tuple([row[k] if p is None else p(row[k]) for k, p in pairs]) for row in rows]
    except KeyError as exc:
        index = next(i for i, row in enumerate(rows) if any(k not in row for k in keys))
        raise ValueError(
            f"row {index + 1} of {len(rows)} has no value for column {exc.args[0]!r} "
            f"({prepared.sql.split('(')[0].strip()})"
        ) from None
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(prepared.sql, params)
    except sqlite3.IntegrityError as exc:  # as SQLAlchemy raises it: callers catch one type on both engines
        raise IntegrityError(prepared.sql, None, exc) from exc
    finally:
        cursor.close()


def _insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def insert_many(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], ignore_conflicts_on: Sequence[str] = ()
) -> None:
    """INSERT every row (all with the keys of the first); with `ignore_conflicts_on`, a row whose
    unique key already exists is skipped (ON CONFLICT DO NOTHING)."""
    if not rows:
        return
    keys = tuple(rows[0])

    def build() -> UpdateBase:
        if not ignore_conflicts_on:
            return table.insert()
        return _insert(conn, table).on_conflict_do_nothing(index_elements=list(ignore_conflicts_on))

    _write(conn, rows, ("insert", table.name, keys, tuple(ignore_conflicts_on)), build, keys)


def upsert_many(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str], columns: Sequence[str]
) -> None:
    """INSERT every row; where its unique `key` already exists, overwrite `columns` instead."""
    if not rows:
        return
    keys = tuple(rows[0])

    def build() -> UpdateBase:
        stmt = _insert(conn, table)
        return stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in columns})

    _write(conn, rows, ("upsert", table.name, keys, tuple(key), tuple(columns)), build, keys)


def update_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: str = "_id") -> None:
    """UPDATE one row per mapping: `rows[i][key]` is the primary key `id`, every other key of the
    first mapping a column to set."""
    if not rows:
        return
    columns = tuple(k for k in rows[0] if k != key)

    def build() -> UpdateBase:
        return update(table).where(table.c.id == bindparam(key)).values({c: bindparam(c) for c in columns})

    _write(conn, rows, ("update", table.name, key, columns), build)
