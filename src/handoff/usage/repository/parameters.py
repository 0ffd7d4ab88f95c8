"""A list of values as one bound parameter, for the usage repositories' batch queries."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from sqlalchemy import ARRAY, ColumnElement, String, any_, bindparam, column, func, select


def in_one_parameter(col: ColumnElement[str], values: Sequence[str], postgres: bool) -> ColumnElement[bool]:
    """`col IN values` with the values as one parameter (an array on PostgreSQL, a JSON list on
    SQLite): SQLAlchemy expands a plain IN list into a literal parameter per value, every query."""
    if postgres:
        return col == any_(bindparam(None, list(values), type_=ARRAY(String())))
    listed = select(column("value", String)).select_from(func.json_each(bindparam(None, orjson.dumps(values).decode())))
    return col.in_(listed.scalar_subquery())
