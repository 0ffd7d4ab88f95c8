"""Connector state kept in the database: OAuth token sets and polling cursors, shared by every
worker and surviving restarts. Each save is its own short transaction (a rotated refresh token
must be stored at once, whatever happens to the delivery that needed it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, select

from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import upsert_many
from handoff.kernel.storage.unit_of_work import UnitOfWork


class StorageContext(Protocol):
    """What the state needs of the application context (an `AppContext` is one)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    def unit_of_work(self, durable: bool = True) -> UnitOfWork: ...


class DbConnectorState:
    def __init__(self, ctx: StorageContext) -> None:
        self.ctx = ctx

    def __repr__(self) -> str:
        return "DbConnectorState()"

    def load(self, name: str) -> dict[str, Any] | None:
        cs = schema.connector_state
        with self.ctx.engine.connect() as conn:
            value = conn.execute(select(cs.c.value).where(cs.c.name == name)).scalar()
        return dict(value) if value else None

    def save(self, name: str, value: dict[str, Any]) -> None:
        cs = schema.connector_state
        now = self.ctx.clock()
        with self.ctx.unit_of_work() as uow:
            upsert_many(
                uow.conn, cs, [{"name": name, "value": value, "updated_at": now}], ["name"], ["value", "updated_at"]
            )
            uow.commit()
