"""What every use case needs, built once in the composition root (`handoff.bootstrap`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from handoff.config import BusinessConfig
from handoff.kernel.storage.db import checkpoint, defer_checkpoints
from handoff.kernel.storage.unit_of_work import UnitOfWork


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AppContext:
    engine: Engine
    config: BusinessConfig
    clock: Callable[[], datetime] = utc_now

    def unit_of_work(self, durable: bool = True) -> UnitOfWork:
        return UnitOfWork(self.engine, durable)

    def defer_checkpoints(self) -> None:
        """See `store.db.defer_checkpoints`: for a process that checkpoints from its own thread."""
        defer_checkpoints(self.engine)

    def checkpoint(self) -> None:
        checkpoint(self.engine)
