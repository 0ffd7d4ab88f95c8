"""What the contracts package shows to people: contracts as a filtered page, one contract's owner
and milestone acceptances, and the list prices in force for catalog products (reads, no
transaction). One contract in full is `contracts.show_contract`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.contracts.domain.catalog import shown
from handoff.contracts.domain.model import BillingKind, ContractError, ContractVersion
from handoff.contracts.domain.schedule import MILESTONE_PREFIX
from handoff.contracts.repository import queries
from handoff.contracts.repository.contracts import PLANNED, Acceptance
from handoff.contracts.repository.queries import OutlookItem
from handoff.contracts.service.contracts import show_contract
from handoff.kernel.money import CENT
from handoff.kernel.storage.paging import Page

__all__ = [
    "OutlookItem",
    "Page",
    "acceptances",
    "contract_detail",
    "contract_owner",
    "current_versions",
    "list_contracts",
    "prices_in_force",
    "schedule_outlook",
]


def list_contracts(
    ctx: AppContext,
    *,
    customer_id: str | None = None,
    status: str | None = None,
    owner: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Contracts by id (of one customer, status and deal owner when given) with the buyer's name,
    the deal's owner and the next day something bills."""
    return queries.contracts_page(
        ctx.engine, customer_id=customer_id, status=status, owner=owner, limit=limit, offset=offset
    )


def schedule_outlook(ctx: AppContext, include_billed: bool = False) -> list[OutlookItem]:
    """Every planned (and with `include_billed`, billed) schedule item with its contract's customer,
    currency, terms and creation, and the issue date of the invoice that billed it: what the cash
    forecast (planned) and its backtest (both) read."""
    return queries.schedule_outlook(ctx.engine, include_billed)


def current_versions(
    ctx: AppContext, *, after: str = "", limit: int = 500
) -> list[tuple[str, str, dict[str, Any], ContractVersion]]:
    """Up to `limit` contracts after `after`, by id: (contract id, status, buyer as stored, its
    current version), for walking every contract (projects opens one per services contract)."""
    return [
        (cid, status, buyer, ContractVersion.from_json(content))
        for cid, status, buyer, content in queries.current_versions(ctx.engine, after, limit)
    ]


def contract_owner(ctx: AppContext, contract_id: str) -> tuple[bool, str | None]:
    """(the contract exists, the owner of the deal it came from, None when it came from none)."""
    return queries.contract_owner(ctx.engine, contract_id)


def acceptances(ctx: AppContext, contract_id: str) -> dict[str, Acceptance]:
    """The contract's accepted milestones by key."""
    return {a.milestone_key: a for a in queries.acceptances(ctx.engine, contract_id)}


def prices_in_force(ctx: AppContext, skus: Sequence[str], on: date) -> dict[str, dict[str, Any]]:
    """sku -> currency -> list unit price in force on `on` (as people read prices: `catalog.shown`)."""
    found = queries.prices_in_force(ctx.engine, skus, on)
    return {sku: {cur: shown(price) for cur, price in by.items()} for sku, by in found.items()}


def _number(value: Decimal) -> str:
    """A quantity as people write it: `2`, `1.5` (PostgreSQL and SQLite keep different digits)."""
    return f"{value.normalize():f}"


def contract_detail(ctx: AppContext, contract_id: str) -> dict[str, Any] | None:
    """One contract as people read it (None if there is none): its row, the current version's terms,
    lines and signed documents, every version with its content hash, the schedule with what each item
    billed (`due`: planned and its bill date reached today) and each milestone with its acceptance."""
    try:
        view = show_contract(ctx, contract_id)
    except ContractError:
        return None
    today = ctx.clock().date()
    current = view.current.to_json()
    header = view.contract
    _, owner = contract_owner(ctx, contract_id)
    accepted = acceptances(ctx, contract_id)
    items = [
        {
            "line_key": i.line_key,
            "period_key": i.period_key,
            "period_start": i.period_start,
            "period_end": i.period_end,
            "bill_date": i.bill_date,
            "amount": i.amount.quantize(CENT),  # the same digits from either database
            "quantity": _number(i.quantity),
            "unit_price": shown(i.unit_price),
            "description": i.description,
            "trigger": i.trigger,
            "status": i.status,
            "due": i.status == PLANNED and i.bill_date is not None and i.bill_date <= today,
            "version": i.version,
            "invoice_id": i.invoice_id,
            "invoice_number": i.invoice_number,
            "invoice_status": i.invoice_status,
        }
        for i in view.items
    ]
    by_key = {(i["line_key"], i["period_key"]): i for i in items}
    milestones = []
    for line in view.current.lines:
        if line.rule.kind is not BillingKind.MILESTONE:
            continue
        for m in line.rule.milestones:
            item = by_key.get((line.key, MILESTONE_PREFIX + m.key))
            done = accepted.get(m.key)
            milestones.append(
                {
                    "line_key": line.key,
                    "key": m.key,
                    "name": m.name,
                    "amount": None if item is None else item["amount"],
                    "status": None if item is None else item["status"],
                    "accepted_on": None if done is None else done.accepted_on,
                    "accepted_by": None if done is None else done.accepted_by,
                    "invoice_id": None if item is None else item["invoice_id"],
                    "invoice_number": None if item is None else item["invoice_number"],
                }
            )
    buyer = header.buyer if isinstance(header.buyer, dict) else {}
    return {
        "contract_id": header.contract_id,
        "customer_id": header.customer_id,
        "customer_name": str(buyer.get("legal_name", "")),
        "legal_entity": header.legal_entity,
        "currency": header.currency,
        "payment_terms": header.payment_terms,
        "po_number": header.po_number,
        "status": header.status,
        "origin": header.origin,
        "current_version": header.current_version,
        "owner_email": owner,
        "created_at": header.created_at,
        "updated_at": header.updated_at,
        "next_bill_date": min(
            (i["bill_date"] for i in items if i["status"] == PLANNED and i["bill_date"] is not None), default=None
        ),
        "terms": current["terms"],
        "lines": current["lines"],
        "documents": current["documents"],
        "versions": [
            {
                "version": v.version,
                "effective": v.effective,
                "change_order": v.change_order,
                "content_hash": v.content_hash,
                "created_at": v.created_at,
                "created_by": v.created_by,
            }
            for v in view.versions
        ],
        "schedule": items,
        "milestones": milestones,
    }
