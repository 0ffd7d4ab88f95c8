"""Change orders stored and applied: `amend` makes a contract's next version and replans its schedule
against what is billed, in one transaction.

`amend(ctx, contract_id, order, actor, reason)` reads the current version and the retired line keys
(`domain.change_orders.retired_keys`), applies the order (`apply_change_order`, which validates),
stores the new version with its content hash (in the audit entry too) and replans
(`domain.replanning.replan`): the pending items `replaced_by_change` names are superseded, or
rewritten in place when the new version plans the same (line, period) again (the schedule's key is
unique), the new version's future items are planned and the adjustments of periods already billed
are added (key "adjust:<order>:<period>", bill date the effective date; negative: a credit). Invoiced
periods are never edited. The next billing run bills the adjustments: a debit as an invoice line, a
credit as a negative line, or, when a customer's contract nets below zero in a run, as a credit-note
draft correcting the invoice that billed the period (`credit_documents`, EN 16931 BT-25/BT-26).

Bad input (an unknown contract or line, a change order before the contract's start or the current
version, an invalid version) raises ContractError naming the record and the field, nothing written.
A change order key is used once per contract: the same order again is a no-op (the stored result),
a different order under a used key is refused as a duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.contracts.domain.change_orders import (
    ChangeOrder,
    ChangeOrderError,
    Terminate,
    apply_change_order,
    replaced_by_change,
    replan,
    retired_keys,
)
from handoff.contracts.domain.model import ContractError, ContractLine, ContractVersion, canonical_json
from handoff.contracts.domain.replanning import ADJUST_PREFIX
from handoff.contracts.domain.schedule import TRIGGER_MILESTONE, ScheduleItem
from handoff.contracts.repository.change_orders import APPLIED, ChangeOrderRepository, ChangeOrderRow
from handoff.contracts.repository.contracts import BILLED, PLANNED, AlreadyWritten, ContractRepository, ItemRow
from handoff.contracts.service.contracts import horizon, renews_unbounded
from handoff.invoicing.domain.contract_invoices import ContractCharge, charges_total
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceError, InvoiceKind
from handoff.kernel.money import ZERO
from handoff.kernel.storage.unit_of_work import UnitOfWork

INTAKE = "intake"  # items of a migrated order that intake bills: billed as far as replanning goes
TERMINATED = "terminated"

__all__ = [
    "Amended",
    "ChangeOrderRow",
    "amend",
    "change_orders",
    "credit_documents",
    "signed_charge",
    "version_of",
]


@dataclass(frozen=True, slots=True)
class Amended:
    """What `amend` stored (or found stored: `repeated`)."""

    contract_id: str
    change_order: str
    version: int
    content_hash: str
    superseded: int = 0  # pending items replaced (superseded or rewritten)
    planned: int = 0  # the new version's items planned (rewritten or inserted)
    adjustments: tuple[tuple[str, str, Decimal], ...] = ()  # (line, period key, amount)
    repeated: bool = False  # the same change order was applied before: nothing written now

    @property
    def adjustment_total(self) -> Decimal:
        return sum((amount for _, _, amount in self.adjustments), ZERO)


def _schedule_item(row: ItemRow) -> ScheduleItem:
    return ScheduleItem(
        row.contract_id,
        row.line_key,
        row.period_key,
        row.period_start,
        row.period_end,
        row.bill_date,
        row.amount,
        row.quantity,
        row.unit_price,
        row.description,
        row.trigger,
        row.gross,
        row.discount,
    )


def _columns(line: ContractLine, item: ScheduleItem, version: int) -> dict[str, Any]:
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
        "version": version,
        "invoice_id": None,
    }


def _duplicate(contract_id: str, order: ChangeOrder, stored: ChangeOrderRow) -> ChangeOrderError:
    return ChangeOrderError(
        f"contract {contract_id} change order {order.key}: key is a duplicate: change order {order.key} "
        f"made version {stored.version} on {stored.created_at:%Y-%m-%d} ({stored.created_by}) with other content",
        contract_id=contract_id,
        change_order=order.key,
        field="key",
    )


def amend(ctx: AppContext, contract_id: str, order: ChangeOrder, actor: str, reason: str) -> Amended:
    """Apply `order` to the contract's current version and replan its schedule against what is
    billed, in one transaction (see the module docstring). ContractError naming the record and the
    field, nothing written, when it cannot apply."""
    key = order.key if isinstance(order.key, str) else ""
    if not actor.strip():
        raise ChangeOrderError(
            f"contract {contract_id} change order {key or '?'}: actor is missing",
            contract_id=contract_id,
            change_order=key,
            field="actor",
        )
    now = ctx.clock()
    try:
        with ctx.unit_of_work() as uow:
            done = _amend(uow, ctx, contract_id, order, actor, reason, now)
            if not done.repeated:
                uow.commit()
    except AlreadyWritten:  # the same key (or the next version) written at the same moment
        stored = ChangeOrderRepository(ctx.engine).get(contract_id, key)
        if stored is not None and stored.content == order.to_json():
            return _repeated(ContractRepository(ctx.engine), contract_id, stored)
        if stored is not None:
            raise _duplicate(contract_id, order, stored) from None
        raise ChangeOrderError(
            f"contract {contract_id} change order {key}: version was amended by another change order "
            "at the same moment; apply it again",
            contract_id=contract_id,
            change_order=key,
            field="version",
        ) from None
    return done


def _repeated(repo: ContractRepository, contract_id: str, stored: ChangeOrderRow) -> Amended:
    versions = repo.versions(contract_id)
    made = next((v for v in versions if v.version == stored.version), None)
    return Amended(contract_id, stored.key, stored.version, made.content_hash if made else "", repeated=True)


def _amend(
    uow: UnitOfWork, ctx: AppContext, cid: str, order: ChangeOrder, actor: str, reason: str, now: datetime
) -> Amended:
    contracts, orders = uow.repository(ContractRepository), uow.repository(ChangeOrderRepository)
    header = contracts.header(cid, lock=True)
    if header is None:
        raise ChangeOrderError(
            f"contract {cid} change order {order.key}: contract_id {cid!r} does not exist",
            contract_id=cid,
            change_order=order.key,
            field="contract_id",
        )
    stored = orders.get(cid, order.key)
    if stored is not None:
        if stored.content == order.to_json():
            return _repeated(contracts, cid, stored)
        raise _duplicate(cid, order, stored)
    rows = contracts.versions(cid)
    versions = [ContractVersion.from_json(r.content) for r in rows]
    current = versions[-1]
    new = apply_change_order(current, order, retired=retired_keys(versions))

    items = contracts.items(cid)
    billed = {(i.line_key, i.period_key) for i in items if i.status in (BILLED, INTAKE)}
    through = orders.planned_through(cid)
    if through is None and (renews_unbounded(new) or renews_unbounded(current)):
        through = horizon(new, now.date())
    future, adjustments = replan(current, new, billed, through)

    lines = {line.key: line for version in versions for line in version.lines} | {line.key: line for line in new.lines}
    by_key = {(i.line_key, i.period_key): i for i in items}
    replaced = [i for i in items if i.status == PLANNED and replaced_by_change(_schedule_item(i), new.effective)]
    rewrite: list[dict[str, Any]] = []
    insert: list[dict[str, Any]] = []
    rewritten: set[int] = set()
    for item in future:
        columns = _columns(lines[item.line_key], item, new.version)
        existing = by_key.get(item.key)
        if existing is None:
            insert.append(columns)
            continue
        if existing.status in (BILLED, INTAKE):  # replan never plans a billed period again
            raise ContractError.at(cid, "schedule", f"{item.key} is billed already", line=item.line_key)
        if existing.trigger == TRIGGER_MILESTONE and existing.bill_date is not None:
            columns["bill_date"] = existing.bill_date  # accepted: due on its acceptance day still
        rewritten.add(existing.id)
        rewrite.append({"_id": existing.id, **{k: v for k, v in columns.items() if k != "contract_id"}})
    for item in adjustments:
        insert.append(_columns(lines[item.line_key], item, new.version))
    supersede = [i.id for i in replaced if i.id not in rewritten]

    content, digest = new.to_json(), new.content_hash
    terminated = any(isinstance(change, Terminate) for change in order.changes)
    header_values: dict[str, Any] = {"current_version": new.version, "updated_at": now}
    if terminated:
        header_values["status"] = TERMINATED
    if through is not None:
        header_values["planned_through"] = through
    orders.add(
        {
            "contract_id": cid,
            "key": order.key,
            "effective": order.effective,
            "content": order.to_json(),
            "status": APPLIED,
            "version": new.version,
            "reason": reason,
            "created_by": actor,
            "created_at": now,
        },
        {
            "contract_id": cid,
            "version": new.version,
            "effective": new.effective,
            "change_order": order.key,
            "content": content,
            "content_hash": digest,
            "created_at": now,
            "created_by": actor,
        },
        supersede,
        rewrite,  # every row with the same keys, as update_many wants
        insert,
        header_values,
    )
    adjusted = tuple((a.line_key, a.period_key, a.amount) for a in adjustments)
    uow.audit(
        at=now,
        actor=actor,
        action="contract.amended",
        entity_type="contract",
        entity_id=cid,
        reason=reason or order.reason or f"change order {order.key}",
        before={"version": current.version, "content_hash": current.content_hash},
        after={
            "version": new.version,
            "change_order": order.key,
            "effective": order.effective,
            "content_hash": digest,
            "order_hash": _order_hash(order),
            "superseded": len(replaced),
            "planned": len(future),
            "adjustments": [[line, period, amount] for line, period, amount in adjusted],
            "adjustment_total": sum((a for _, _, a in adjusted), ZERO),
            **({"status": TERMINATED} if terminated else {}),
        },
    )
    return Amended(cid, order.key, new.version, digest, len(replaced), len(future), adjusted)


def _order_hash(order: ChangeOrder) -> str:
    return hashlib.sha256(canonical_json(order.to_json()).encode("utf-8")).hexdigest()


# ---- reads ----


def change_orders(ctx: AppContext, contract_id: str) -> list[ChangeOrderRow]:
    """The change orders applied to a contract, in the order of the versions they made."""
    return ChangeOrderRepository(ctx.engine).of_contract(contract_id)


def version_of(ctx: AppContext, contract_id: str, version: int | None = None) -> ContractVersion:
    """Version `version` of the contract (the current one with None); ContractError if none."""
    rows = ContractRepository(ctx.engine).versions(contract_id)
    if not rows:
        raise ContractError.at(contract_id, "contract_id", "does not exist")
    if version is None:
        return ContractVersion.from_json(rows[-1].content)
    for row in rows:
        if row.version == version:
            return ContractVersion.from_json(row.content)
    raise ContractError.at(contract_id, "version", f"{version} does not exist (latest: {rows[-1].version})")


# ---- how the billing run bills adjustments ----


def signed_charge(charge: ContractCharge) -> ContractCharge:
    """A charge as an invoice line can carry it: a credit adjustment (negative gross) becomes
    quantity -1 at its positive price (EN 16931 BR-27: an item's net price is never negative; a
    negative quantity is allowed, BT-129). A credit that already is a negative quantity at a
    positive price (hours taken back at the role's rate) keeps them. Other charges are returned as
    they are."""
    if charge.gross >= ZERO:
        return charge
    if charge.quantity < ZERO and charge.unit_price > ZERO:
        return charge
    return replace(charge, quantity=Decimal(-1), unit_price=-charge.gross)


def _net_charge(charge: ContractCharge, sign: int) -> ContractCharge:
    """The charge as one line of its net, times `sign` (a credit note's lines carry what is credited)."""
    net = (charge.gross - charge.discount) * sign
    quantity = Decimal(1) if net >= ZERO else Decimal(-1)
    return replace(charge, quantity=quantity, unit_price=abs(net), gross=net, discount=ZERO)


def credit_documents(
    uow: UnitOfWork,
    items: Sequence[ItemRow],
    charges: Sequence[ContractCharge],
    build: Callable[[list[ContractCharge]], Invoice],
) -> Invoice:
    """The document a billing run drafts for one group's due `items` (their `charges`, in the same
    order), `build` making an invoice draft of charges (the run's `draft_for_charges` + VAT
    determination). Net zero or more: an invoice, credit adjustments as negative-quantity lines
    (`signed_charge`). Net below zero: a credit-note draft of the same lines, signs turned (what is
    credited positive), correcting the newest issued invoice that billed a period the adjustments
    credit (BT-25, BT-26). InvoiceError (the run reports it; the items stay planned) when that
    invoice is not issued yet: it has no number to correct."""
    if charges_total(charges) >= ZERO:
        return build([signed_charge(c) for c in charges])
    repo = uow.repository(ChangeOrderRepository)
    credited: list[tuple[str, str]] = []
    for item in items:
        if item.period_key.startswith(ADJUST_PREFIX) and item.amount < ZERO:
            period = item.period_key.removeprefix(ADJUST_PREFIX).split(":", 1)[-1]
            credited.append((item.line_key, period))
    contract_id = items[0].contract_id
    found = [
        b
        for cid in dict.fromkeys(i.contract_id for i in items)
        for b in repo.billed_by(cid, credited)
        if b.kind == InvoiceKind.INVOICE.value
    ]
    issued = [b for b in found if b.status == DocumentStatus.ISSUED.value and b.number]
    if not issued:
        what = "not issued yet" if found else "not found"
        raise InvoiceError(
            f"contract {contract_id}: a credit of {-charges_total(charges)} corrects the invoice that billed "
            f"{', '.join(f'{line} {period}' for line, period in credited) or 'the adjusted periods'}, which is {what}: "
            "issue it first, the next run drafts the credit note"
        )
    target = issued[0]
    invoice = build([_net_charge(c, -1) for c in charges])
    note = f"Credit note for invoice {target.number}: contract change order adjustment"
    return replace(
        invoice,
        kind=InvoiceKind.CREDIT_NOTE,
        corrects=target.number,
        corrects_issue_date=target.issue_date,
        notes=(*invoice.notes, note),
    )
