"""Quote lock inside a caller's unit of work: intake locks a closed-won deal's quote as its contract
in the same transaction that applies the deal's version (`deals.service.intake`), so the order's
state and its contract commit together or not at all.

`lock_in` checks what `contracts.lock` checks (a billable version 1, the buyer is the contract's
customer, its selling entity and payment terms configured) and raises ContractError naming the
contract and field before anything is written; a contract that exists already (locked before, or an
order migration 0022 made one of) is not written again: `lock_in` answers None and the caller
treats the new version as an amendment. It writes the same rows and audit entry as `lock`
(`contracts._contract_row`, `contracts._item_row`) and never commits.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from handoff.context import AppContext
from handoff.contracts.domain.model import ContractError, ContractVersion, add_months, validate
from handoff.contracts.domain.schedule import plan
from handoff.contracts.repository.contracts import ContractRepository
from handoff.contracts.repository.locks import QuoteLocks
from handoff.contracts.service.contracts import HORIZON_MONTHS, Locked, _contract_row, _item_row
from handoff.contracts.service.terms_review import review_on_lock
from handoff.kernel.money import ZERO
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
    cid, terms = version.contract_id, version.terms
    validate(version)
    if version.version != 1 or version.change_order:
        raise ContractError.at(cid, "version", f"is {version.version}: a contract is locked at version 1")
    if buyer.customer_id != terms.customer_id:
        raise ContractError.at(
            cid, "buyer.customer_id", f"is {buyer.customer_id!r}, not the contract's customer {terms.customer_id!r}"
        )
    if terms.legal_entity not in ctx.config.entities:
        raise ContractError.at(cid, "legal_entity", f"{terms.legal_entity!r} is not a configured selling entity")
    if terms.payment_terms not in ctx.config.model.payment_terms:
        raise ContractError.at(cid, "payment_terms", f"{terms.payment_terms!r} are not configured payment terms")
    repo = uow.repository(ContractRepository)
    if repo.header(cid, lock=True) is not None:
        return None
    through = add_months(max(terms.billing_start, now.date()), HORIZON_MONTHS)
    items = plan(version, through)
    digest = version.content_hash
    value = sum((i.amount for i in items), ZERO)
    repo.add_contract(
        _contract_row(version, buyer, now),
        {
            "contract_id": cid,
            "version": 1,
            "effective": version.effective,
            "change_order": "",
            "content": version.to_json(),
            "content_hash": digest,
            "created_at": now,
            "created_by": actor,
        },
        [_item_row(version, item) for item in items],
    )
    # terms beyond the configured policy: pending, unbilled, until another person approves
    review_on_lock(uow, ctx, version, actor=actor, now=now, close_date=close_date)
    uow.audit(
        at=now,
        actor=actor,
        action="contract.locked",
        entity_type="contract",
        entity_id=cid,
        reason=reason,
        after={
            "version": 1,
            "content_hash": digest,
            "customer_id": terms.customer_id,
            "legal_entity": terms.legal_entity,
            "currency": terms.currency,
            "lines": [line.key for line in version.lines],
            "items": len(items),
            "value": value,
            "planned_through": through,
        },
    )
    return Locked(cid, 1, digest, len(items), value, through)


def locked_among(uow: UnitOfWork, contract_ids: Collection[str]) -> set[str]:
    """The ids among `contract_ids` of contracts locked from a won quote (not those a migration made
    of orders), in one query per 500 ids."""
    if not contract_ids:
        return set()
    return uow.repository(QuoteLocks).locked_among(contract_ids)
