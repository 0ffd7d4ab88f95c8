"""Billable metrics and usage prices as stored: `billable_metrics` (one row per metric code, its
definition as `usage.domain.metrics.metric_to_json` writes it, numbered versions) and `usage_prices`
(a usage line's price when finance set one: metric and `usage.domain.pricing.price_to_json`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, tuple_, update

from handoff.kernel.storage import schema
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.usage.repository.parameters import in_one_parameter

_m, _p = schema.billable_metrics, schema.usage_prices
CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class MetricRow:
    code: str
    name: str
    definition: dict[str, Any]
    version: int
    source: str
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PriceRow:
    contract_id: str
    line_key: str
    metric: str
    price: dict[str, Any]
    version: int
    updated_by: str
    updated_at: datetime


def _metric(r: Any) -> MetricRow:
    return MetricRow(r.code, r.name, r.definition, r.version, r.source, r.updated_by, r.updated_at)


def _price(r: Any) -> PriceRow:
    return PriceRow(r.contract_id, r.line_key, r.metric, r.price, r.version, r.updated_by, r.updated_at)


class MetricRepository(OnUnitOfWorkOrEngine):
    """Billable metrics and usage prices on a unit of work (reads and writes) or an engine (reads)."""

    def __init__(self, on: UnitOfWork | Engine) -> None:
        super().__init__(on)
        self._postgres = self._engine.dialect.name == "postgresql"

    # -- metrics --------------------------------------------------------------------------------

    def metrics(self) -> list[MetricRow]:
        """Every billable metric, by code."""
        with self._connect() as conn:
            return [_metric(r) for r in conn.execute(select(_m).order_by(_m.c.code))]

    def metric(self, code: str, *, lock: bool = False) -> MetricRow | None:
        q = select(_m).where(_m.c.code == code)
        if lock and self._postgres:
            q = q.with_for_update()
        with self._connect() as conn:
            row = conn.execute(q).first()
        return None if row is None else _metric(row)

    def add_metric(self, row: MetricRow) -> None:
        self._tx.execute(
            _m.insert().values(
                code=row.code,
                name=row.name,
                definition=row.definition,
                version=row.version,
                source=row.source,
                updated_by=row.updated_by,
                updated_at=row.updated_at,
            )
        )

    def change_metric(self, row: MetricRow) -> None:
        self._tx.execute(
            update(_m)
            .where(_m.c.code == row.code)
            .values(
                name=row.name,
                definition=row.definition,
                version=row.version,
                source=row.source,
                updated_by=row.updated_by,
                updated_at=row.updated_at,
            )
        )

    # -- prices ---------------------------------------------------------------------------------

    def prices(self, contract_ids: Iterable[str]) -> dict[tuple[str, str], PriceRow]:
        """The prices set on these contracts' usage lines, by (contract, line)."""
        ids = sorted(set(contract_ids))
        found: dict[tuple[str, str], PriceRow] = {}
        with self._connect() as conn:
            for start in range(0, len(ids), CHUNK):
                q = select(_p).where(in_one_parameter(_p.c.contract_id, ids[start : start + CHUNK], self._postgres))
                for r in conn.execute(q):
                    found[(r.contract_id, r.line_key)] = _price(r)
        return found

    def all_prices(self) -> list[PriceRow]:
        """Every usage price set (a small table: one row per priced usage line)."""
        with self._connect() as conn:
            return [_price(r) for r in conn.execute(select(_p).order_by(_p.c.contract_id, _p.c.line_key))]

    def price(self, contract_id: str, line_key: str, *, lock: bool = False) -> PriceRow | None:
        q = select(_p).where(tuple_(_p.c.contract_id, _p.c.line_key) == (contract_id, line_key))
        if lock and self._postgres:
            q = q.with_for_update()
        with self._connect() as conn:
            row = conn.execute(q).first()
        return None if row is None else _price(row)

    def put_price(self, row: PriceRow) -> None:
        """Insert the line's price (version 1) or replace it (a later version)."""
        values = {
            "metric": row.metric,
            "price": row.price,
            "version": row.version,
            "updated_by": row.updated_by,
            "updated_at": row.updated_at,
        }
        if row.version == 1:
            self._tx.execute(_p.insert().values(contract_id=row.contract_id, line_key=row.line_key, **values))
            return
        self._tx.execute(
            update(_p).where(_p.c.contract_id == row.contract_id, _p.c.line_key == row.line_key).values(**values)
        )
