"""Quote lock inside a caller's unit of work: intake locks a closed-won deal's quote as its contract
in the same transaction that applies the deal's version (`deals.service.intake`), so the order's
state and its contract commit together or not at all.

`lock_in` checks what `contracts.lock` checks (a billable version 1, the buyer is the contract's
customer, its selling entity and payment terms configured) and raises ContractError naming the
contract and field before anything is written; a contract that exists already (locked before, or an
order migration 0022 made one of) is not written again: `lock_in` answers None and the caller
treats the new version as an amendment. It writes the same rows, terms review and audit entry as `lock`
(`contracts.check_lockable`, `contracts.store_locked`) and never commits.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from handoff.context import AppContext
from handoff.contracts.domain.model import ContractVersion
from handoff.contracts.repository.contracts import ContractRepository
from handoff.contracts.repository.locks import QuoteLocks
from handoff.contracts.service.contracts import Locked, check_lockable, store_locked
from handoff.kernel.parties import Customer
from handoff.kernel.storage.unit_of_work import UnitOfWork


def lock_in(
    uow: UnitOfWork,
    ctx: AppContext,
    version: ContractVersion,
    buyer: Customer,
    *,
    actor: str,
    reason: str,
    now: datetime,
    close_date: date | None = None,
) -> Locked | None:
    """Store `version` (version 1) as a new contract billed to `buyer`, its schedule planned, in
    `uow` (not committed). None, nothing written, when the contract exists already; ContractError,
    nothing written, when it cannot be billed."""
    check_lockable(ctx, version, buyer)
    if uow.repository(ContractRepository).header(version.contract_id, lock=True) is not None:
        return None
    return store_locked(uow, ctx, version, buyer, actor=actor, reason=reason, now=now, close_date=close_date)


def locked_among(uow: UnitOfWork, contract_ids: Collection[str]) -> set[str]:
    """The ids among `contract_ids` of contracts locked from a won quote (not those a migration made
    of orders), in one query per 500 ids."""
    if not contract_ids:
        return set()
    return uow.repository(QuoteLocks).locked_among(contract_ids)
