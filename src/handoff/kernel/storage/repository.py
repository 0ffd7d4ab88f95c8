"""What a repository built on a unit of work or on an engine shares: where its SQL runs.

On a unit of work, reads and writes run in that transaction. On an engine, a repository only
reads, each read on a connection of its own (for pages and lookups outside any use case's
transaction); asking it to write is a programming error.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from sqlalchemy import Connection, Engine

from handoff.kernel.storage.unit_of_work import UnitOfWork


class OnUnitOfWorkOrEngine:
    def __init__(self, on: UnitOfWork | Engine) -> None:
        self._uow = on if isinstance(on, UnitOfWork) else None
        self._engine = on.engine if isinstance(on, UnitOfWork) else on

    def _connect(self) -> AbstractContextManager[Connection]:
        """The unit of work's connection, or (built on an engine) a connection of this read's own."""
        return nullcontext(self._uow.conn) if self._uow is not None else self._engine.connect()

    @property
    def _tx(self) -> Connection:
        """The unit of work's connection, for writes."""
        if self._uow is None:
            raise TypeError("writing needs a repository built on a unit of work")
        return self._uow.conn
