"""Which deals' quotes are locked as contracts: what intake asks, once per batch, of the orders it
holds in state `ready` (a later version of a locked deal is an amendment, never a second lock)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from handoff.kernel.storage import schema
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine

LOCKED = "locked"  # contracts.origin of a contract locked from a won quote (service.contracts.LOCKED)
CHUNK = 500  # ids per query: well inside every engine's limit on bound parameters


class QuoteLocks(OnUnitOfWorkOrEngine):
    def locked_among(self, contract_ids: Collection[str]) -> set[str]:
        """The ids among `contract_ids` of contracts locked from a won quote."""
        c = schema.contracts
        ids = sorted(set(contract_ids))
        found: set[str] = set()
        with self._connect() as conn:
            for start in range(0, len(ids), CHUNK):
                q = select(c.c.contract_id).where(c.c.contract_id.in_(ids[start : start + CHUNK]), c.c.origin == LOCKED)
                found.update(conn.execute(q).scalars())
        return found
