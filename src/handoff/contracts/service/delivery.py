"""Delivery items: what a project delivered (time, expenses, retainer top-ups), added to its contract's
schedule for the billing run to bill.

Projects (`projects.service.posting`) rate approved work and hand the result here as `DeliveryItem`s,
in their own unit of work: `add_delivery_items` writes them as planned schedule items of the contract,
due on their `bill_date`, in that transaction (the posting's bookkeeping and the items commit or roll
back together). Each item keeps a `note`, the invoice line's note (EN 16931 BT-127) naming its source,
and its `detail`, the entries it bills, which the billing run copies into the invoice's time and
expense annex (`invoicing.domain.invoices.AnnexRow`). A (contract, line, period) is written once:
an item whose key is in the schedule already is refused, naming it, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from handoff.contracts.domain.model import ContractError
from handoff.contracts.repository.contracts import PLANNED, AlreadyWritten, ContractRepository
from handoff.invoicing.domain.invoices import AnnexRow
from handoff.kernel.encoding import to_jsonable
from handoff.kernel.money import ZERO, round2
from handoff.kernel.storage.unit_of_work import UnitOfWork

ACTIVE = "active"
HOURS = "HUR"  # UN/ECE Rec 20: a time item's quantity
ONE = "C62"  # an expense's
TIME_TRIGGERS = frozenset({"time", "retainer"})  # quantities in hours
TRIGGERS = frozenset({"time", "expense", "retainer", "usage"})  # usage: rated by `usage.service.rating`

__all__ = ["AlreadyWritten", "AnnexRow", "ContractError", "DeliveryItem", "add_delivery_items"]


@dataclass(frozen=True, slots=True)
class DeliveryItem:
    """One schedule item of delivered work, as a posting bills it."""

    line_key: str  # the T&M line of the role; "expenses"; "retainer"
    period_key: str  # "time:2027-01:3" (month, posting number), "expenses:2027-01:3", "retainer-topup:2"
    period_start: date  # first day of the month worked
    period_end: date  # first day after it (exclusive), or the posting's `through` if earlier
    bill_date: date  # the posting's `through`: the billing run on or after it bills the item
    quantity: Decimal  # hours (time), 1 (expenses)
    unit_price: Decimal  # the role's rate; expenses: the amount
    amount: Decimal  # net, in cents (may be negative: an adjustment)
    description: str  # "Architect, January 2027: 42.50 h"
    product: str
    tax_category: str  # "standard" by default, the expense's own for expenses
    supply: str  # "services"
    trigger: str  # "time" | "expense" | "retainer"
    note: str  # BT-127: "project PRJ-D-1: 37 time entries (harvest), January 2027"
    detail: tuple[AnnexRow, ...] = ()  # the entries it bills, for the PDF annex
    unit_code: str = ""  # UN/ECE Rec 20 (BT-130); "": HUR for time and retainer, C62 otherwise


def _check(contract_id: str, item: DeliveryItem) -> None:
    """ContractError naming the contract, line, period and field of what cannot be stored."""

    def bad(name: str, problem: str) -> ContractError:
        return ContractError(
            f"contract {contract_id} line {item.line_key or '?'} period {item.period_key or '?'}: {name} {problem}",
            contract_id=contract_id,
            line_key=item.line_key,
            field=name,
        )

    for name, value, size in (
        ("line_key", item.line_key, 100),
        ("period_key", item.period_key, 200),
        ("product", item.product, 100),
        ("tax_category", item.tax_category, 40),
        ("supply", item.supply, 40),
        ("unit_code", item.unit_code, 3),
    ):
        if len(value) > size:
            raise bad(name, f"is longer than {size} characters")
    for name, value in (
        ("line_key", item.line_key),
        ("period_key", item.period_key),
        ("description", item.description),
        ("tax_category", item.tax_category),
        ("supply", item.supply),
    ):
        if not value.strip():
            raise bad(name, "is missing")
    if item.trigger not in TRIGGERS:
        raise bad("trigger", f"is {item.trigger!r}, not one of {', '.join(sorted(TRIGGERS))}")
    if item.period_end <= item.period_start:
        raise bad("period_end", f"{item.period_end} is not after period_start {item.period_start}")
    for name, number in (("quantity", item.quantity), ("unit_price", item.unit_price), ("amount", item.amount)):
        if not isinstance(number, Decimal) or not number.is_finite():
            raise bad(name, f"is {number!r}, not a finite Decimal")
    if item.amount != round2(item.amount):
        raise bad("amount", f"{item.amount} is not in cents")
    for row in item.detail:
        if row.kind not in ("time", "expense"):
            raise bad("detail", f"has a row of kind {row.kind!r} (time or expense)")


def _row(contract_id: str, version: int, item: DeliveryItem) -> dict[str, Any]:
    return {
        "contract_id": contract_id,
        "line_key": item.line_key,
        "period_key": item.period_key,
        "period_start": item.period_start,
        "period_end": item.period_end,
        "bill_date": item.bill_date,
        "amount": item.amount,
        "gross": item.amount,
        "discount": ZERO,
        "quantity": item.quantity,
        "unit_price": item.unit_price,
        "description": item.description,
        "product": item.product,
        "unit_code": item.unit_code or (HOURS if item.trigger in TIME_TRIGGERS else ONE),
        "tax_category": item.tax_category,
        "supply": item.supply,
        "trigger": item.trigger,
        "status": PLANNED,
        "version": version,
        "invoice_id": None,
        "note": item.note,
        "detail": to_jsonable(list(item.detail)) if item.detail else None,
    }


def add_delivery_items(
    uow: UnitOfWork,
    contract_id: str,
    items: Sequence[DeliveryItem],
    actor: str,
    *,
    now: datetime | None = None,
) -> None:
    """Add the items to the contract's schedule, planned, in the caller's transaction (not committed),
    with one `contract.delivery_items_added` audit entry listing their period keys and total.
    ContractError naming the contract (and line, period and field), nothing written, when the
    contract does not exist or is not active, an item is invalid or its (line, period) is in the
    schedule already (or twice in `items`); AlreadyWritten when another transaction wrote one meanwhile
    (roll back). `now`: the audit entry's time (the caller's clock; default the current time)."""
    if not items:
        return
    if not actor.strip():
        raise ContractError.at(contract_id, "actor", "is missing")
    repo = uow.repository(ContractRepository)
    header = repo.header(contract_id, lock=True)
    if header is None:
        raise ContractError.at(contract_id, "contract_id", "does not exist")
    if header.status != ACTIVE:
        raise ContractError.at(contract_id, "status", f"is {header.status!r}: delivery is billed on active contracts")
    seen: set[tuple[str, str]] = set()
    for item in items:
        _check(contract_id, item)
        key = (item.line_key, item.period_key)
        if key in seen:
            raise ContractError(
                f"contract {contract_id} line {item.line_key}: period_key {item.period_key!r} is given twice",
                contract_id=contract_id,
                line_key=item.line_key,
                field="period_key",
            )
        seen.add(key)
    existing = repo.scheduled(contract_id, seen)
    if existing:
        (line_key, period_key), status = min(existing.items())
        raise ContractError(
            f"contract {contract_id} line {line_key}: period_key {period_key!r} is in the schedule already ({status})",
            contract_id=contract_id,
            line_key=line_key,
            field="period_key",
        )
    repo.add_items([_row(contract_id, header.current_version, item) for item in items])
    total = sum((item.amount for item in items), ZERO)
    uow.audit(
        at=now or datetime.now(UTC),
        actor=actor,
        action="contract.delivery_items_added",
        entity_type="contract",
        entity_id=contract_id,
        reason=f"{len(items)} delivery item(s) planned, {total} net",
        after={
            "items": [[item.line_key, item.period_key] for item in items],
            "period_keys": [item.period_key for item in items],
            "bill_dates": sorted({item.bill_date for item in items}),
            "total": total,
            "entries": sum(len(item.detail) for item in items),
        },
    )
