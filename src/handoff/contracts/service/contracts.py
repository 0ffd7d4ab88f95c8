"""Contract use cases: lock a won quote as contract version 1, accept a milestone, read contracts.

`lock` validates the version (`domain.model.validate`) and refuses what cannot be billed before
anything is written; it stores the version with its content hash (in the audit entry too, so the
stored version can be proven unchanged) and plans its schedule items (`domain.schedule.plan`)
through a horizon: the lines' ends, or `HORIZON_MONTHS` ahead for auto-renewing lines.
`accept_milestone` makes a milestone's item due on its acceptance day, once per event. The billing
run that drafts the due items is `billing_run.run_billing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.contracts.domain.model import ContractError, ContractVersion, add_months, validate
from handoff.contracts.domain.schedule import MILESTONE_PREFIX, TRIGGER_MILESTONE, ScheduleItem, plan
from handoff.contracts.repository.contracts import (
    PLANNED,
    Acceptance,
    AlreadyWritten,
    ContractHeader,
    ContractRepository,
    ItemRow,
    VersionRow,
)
from handoff.contracts.service.terms_review import review_on_lock
from handoff.kernel.encoding import load_json, to_jsonable
from handoff.kernel.money import ZERO
from handoff.kernel.parties import Address, Customer
from handoff.kernel.storage.unit_of_work import UnitOfWork

HORIZON_MONTHS = 24  # auto-renewing lines are planned this far ahead of the later of billing start and today
LOCKED = "locked"  # contracts.origin of a contract locked here (a migrated order's: "order")
ACTIVE = "active"

__all__ = [
    "HORIZON_MONTHS",
    "Acceptance",
    "ContractError",
    "ContractHeader",
    "ContractView",
    "ItemRow",
    "Locked",
    "VersionRow",
    "accept_milestone",
    "buyer_of",
    "horizon",
    "list_contracts",
    "lock",
    "show_contract",
]


@dataclass(frozen=True, slots=True)
class Locked:
    """What `lock` stored."""

    contract_id: str
    version: int
    content_hash: str
    items: int
    value: Decimal  # the planned items' net (through the horizon)
    through: date


@dataclass(frozen=True, slots=True)
class ContractView:
    """One contract for people: its row, every version, and its schedule with what each item billed."""

    contract: ContractHeader
    versions: list[VersionRow]
    items: list[ItemRow]

    @property
    def current(self) -> ContractVersion:
        return ContractVersion.from_json(self.versions[-1].content)


def buyer_of(contract: ContractHeader) -> Customer:
    """The customer the contract's invoices go to (as `to_jsonable` stored it)."""
    doc = contract.buyer
    try:  # the common case built directly: the generic reader costs more than the rest of a draft
        address = doc["address"]
        return Customer(**{**doc, "address": Address(**address)})
    except (KeyError, TypeError):
        return load_json(Customer, doc)


def _item_row(version: ContractVersion, item: ScheduleItem) -> dict[str, Any]:
    line = version.line(item.line_key)
    return {
        "contract_id": item.contract_id,
        "line_key": item.line_key,
        "period_key": item.period_key,
        "period_start": item.period_start,
        "period_end": item.period_end,
        "bill_date": item.bill_date,
        "amount": item.amount,
        "gross": item.gross,
        "discount": item.discount,
        "quantity": item.quantity,
        "unit_price": item.unit_price,
        "description": item.description,
        "product": line.product,
        "unit_code": line.unit_code,
        "tax_category": line.tax_category,
        "supply": line.supply,
        "trigger": item.trigger,
        "status": PLANNED,
        "version": version.version,
        "invoice_id": None,
    }


def lock(
    ctx: AppContext,
    version: ContractVersion,
    buyer: Customer,
    actor: str,
    reason: str,
    *,
    close_date: date | None = None,
    manual_tax: bool = False,
) -> Locked:
    """Store `version` (version 1, the won quote) as a new contract billed to `buyer`, with its
    schedule planned. ContractError naming the contract and field, nothing written, when the version
    is not billable, the buyer is not the contract's customer, its entity or payment terms are not
    configured, or the contract exists already."""
    cid = version.contract_id
    if not actor.strip():
        raise ContractError.at(cid, "actor", "is missing")
    check_lockable(ctx, version, buyer)
    now = ctx.clock()
    try:
        with ctx.unit_of_work() as uow:
            existing = uow.repository(ContractRepository).header(cid, lock=True)
            if existing is not None:
                raise ContractError.at(cid, "contract_id", f"is locked already (version {existing.current_version})")
            locked = store_locked(
                uow,
                ctx,
                version,
                buyer,
                actor=actor,
                reason=reason,
                now=now,
                close_date=close_date,
                manual_tax=manual_tax,
            )
            uow.commit()
    except AlreadyWritten:  # locked at the same moment by another request
        raise ContractError.at(cid, "contract_id", "is locked already") from None
    return locked


def check_lockable(ctx: AppContext, version: ContractVersion, buyer: Customer) -> None:
    """ContractError naming the contract and field, before anything is written, unless `version` is
    a billable version 1 whose buyer is the contract's customer and whose selling entity and payment
    terms are configured (what `lock` and intake's `quote_lock.lock_in` both require)."""
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


def store_locked(
    uow: UnitOfWork,
    ctx: AppContext,
    version: ContractVersion,
    buyer: Customer,
    *,
    actor: str,
    reason: str,
    now: datetime,
    close_date: date | None = None,
    manual_tax: bool = False,
) -> Locked:
    """Write a checked version 1 (`check_lockable`) in `uow`, not committed: the contract, its
    version with its content hash, its schedule planned through `horizon`, its terms review, and the
    `contract.locked` audit entry."""
    cid, terms = version.contract_id, version.terms
    through = horizon(version, now.date())
    items = plan(version, through)
    digest = version.content_hash
    value = sum((i.amount for i in items), ZERO)
    uow.repository(ContractRepository).add_contract(
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
    review_on_lock(uow, ctx, version, actor=actor, now=now, close_date=close_date, manual_tax=manual_tax)
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


def horizon(version: ContractVersion, today: date) -> date:
    """The day through which the version's auto-renewing lines are planned when it is stored."""
    return add_months(max(version.terms.billing_start, today), HORIZON_MONTHS)


def renews_unbounded(version: ContractVersion) -> bool:
    """Whether a line renews with no notice given: its items are planned only through a horizon."""
    return any(line.rule.auto_renew and line.rule.notice_given_on is None for line in version.lines)


def _contract_row(version: ContractVersion, buyer: Customer, now: datetime) -> dict[str, Any]:
    terms = version.terms
    return {
        "contract_id": version.contract_id,
        "customer_id": terms.customer_id,
        "legal_entity": terms.legal_entity,
        "currency": terms.currency,
        "payment_terms": terms.payment_terms,
        "po_number": terms.po_number,
        "consolidate": terms.consolidate,
        "status": ACTIVE,
        "origin": LOCKED,
        "current_version": version.version,
        "planned_through": horizon(version, now.date()) if renews_unbounded(version) else None,
        "buyer": to_jsonable(buyer),
        "created_at": now,
        "updated_at": now,
    }


def accept_milestone(
    ctx: AppContext, contract_id: str, key: str, on: date, actor: str, event_id: str, *, reason: str = ""
) -> Acceptance:
    """Milestone `key` of the contract is accepted on `on`: its item is due from that day (the
    billing run bills it); `reason` (the customer's sign-off, say) goes to the audit entry.
    The same `event_id` again is a no-op (the acceptance as first recorded);
    ContractError naming the contract and the milestone, nothing written, for an unknown contract
    or milestone, or a milestone another event accepted already."""
    where = f"contract {contract_id} milestone {key}"
    if not actor.strip():
        raise ContractError(f"{where}: actor is missing", contract_id=contract_id, field="actor")
    if not event_id.strip():
        raise ContractError(f"{where}: event_id is missing", contract_id=contract_id, field="event_id")
    now = ctx.clock()
    try:
        with ctx.unit_of_work() as uow:
            repo = uow.repository(ContractRepository)
            if repo.header(contract_id, lock=True) is None:
                raise ContractError(
                    f"{where}: contract {contract_id} does not exist", contract_id=contract_id, field="contract_id"
                )
            item = repo.item(contract_id, None, MILESTONE_PREFIX + key)
            if item is None or item.trigger != TRIGGER_MILESTONE:
                raise ContractError(
                    f"{where}: contract {contract_id} has no milestone {key}",
                    contract_id=contract_id,
                    field="milestone",
                )
            earlier = repo.acceptance(contract_id, key)
            if earlier is not None:
                if earlier.event_id == event_id:
                    return earlier
                raise ContractError(
                    f"{where}: accepted already on {earlier.accepted_on} by {earlier.accepted_by} "
                    f"(event {earlier.event_id})",
                    contract_id=contract_id,
                    line_key=item.line_key,
                    field="milestone",
                )
            acceptance = Acceptance(contract_id, key, on, actor, event_id)
            repo.accept(acceptance, item.id, now)
            uow.audit(
                at=now,
                actor=actor,
                action="contract.milestone_accepted",
                entity_type="contract",
                entity_id=contract_id,
                reason=f"{reason.strip()} (milestone {key}, event {event_id})"
                if reason.strip()
                else f"milestone {key} accepted (event {event_id})",
                before={"milestone": key, "accepted_on": None},
                after={"milestone": key, "line": item.line_key, "accepted_on": on, "amount": item.amount},
            )
            uow.commit()
    except AlreadyWritten:  # the same milestone accepted at the same moment: as it stands now
        found = ContractRepository(ctx.engine).acceptance(contract_id, key)
        if found is not None and found.event_id == event_id:
            return found
        raise ContractError(f"{where}: accepted already", contract_id=contract_id, field="milestone") from None
    return acceptance


def list_contracts(ctx: AppContext, limit: int = 500, customer_id: str | None = None) -> list[ContractHeader]:
    """Contracts by id (at most `limit`), of one customer if given."""
    return ContractRepository(ctx.engine).rows(limit, customer_id)


def show_contract(ctx: AppContext, contract_id: str) -> ContractView:
    """The contract with its versions and its schedule (what each item billed); ContractError if none."""
    repo = ContractRepository(ctx.engine)
    header = repo.header(contract_id)
    if header is None:
        raise ContractError.at(contract_id, "contract_id", "does not exist")
    return ContractView(header, repo.versions(contract_id), repo.items(contract_id))
