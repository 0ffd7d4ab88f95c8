"""Read models of contracts for people (the API and the pages): contracts as a filtered page, who
owns a contract's deal, a contract's milestone acceptances, and the list prices in force for a page
of catalog products. Reads only; nothing here commits.

A contract locked from a deal has the deal's id; its owner is the order's `owner_email`, read
(read-only) from `orders`, so sales users see the contracts of the deals they own, as they see
those deals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Engine, String, func, literal_column, select

from handoff.contracts.repository.contracts import Acceptance
from handoff.kernel.storage import schema
from handoff.kernel.storage.paging import Page, fetch_page

_c, _s, _m, _o = schema.contracts, schema.schedule_items, schema.milestone_acceptances, schema.orders
_PLANNED = literal_column("'planned'", String())  # a literal: SQLite then uses the partial index


def contracts_page(
    engine: Engine,
    *,
    customer_id: str | None = None,
    status: str | None = None,
    owner: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Contracts by id, of one customer, status and deal owner when given; each with its buyer's
    name, its deal's owner (None for a contract from no deal) and the next day a planned item
    bills (None when nothing is planned with a date)."""
    next_bill = (
        select(func.min(_s.c.bill_date))
        .where(_s.c.contract_id == _c.c.contract_id, _s.c.status == _PLANNED)
        .scalar_subquery()
    )
    q = (
        select(
            _c.c.contract_id,
            _c.c.customer_id,
            _c.c.legal_entity,
            _c.c.currency,
            _c.c.payment_terms,
            _c.c.po_number,
            _c.c.status,
            _c.c.origin,
            _c.c.current_version,
            _c.c.buyer,
            _c.c.created_at,
            _c.c.updated_at,
            _o.c.owner_email,
            next_bill.label("next_bill_date"),
        )
        .outerjoin(_o, _o.c.deal_id == _c.c.contract_id)
        .order_by(_c.c.contract_id)
    )
    if customer_id is not None:
        q = q.where(_c.c.customer_id == customer_id)
    if status is not None:
        q = q.where(_c.c.status == status)
    if owner is not None:
        q = q.where(func.lower(_o.c.owner_email) == owner.lower())
    page = fetch_page(engine, q, limit, offset)
    for row in page.items:
        buyer = row.pop("buyer") or {}
        row["customer_name"] = str(buyer.get("legal_name", "")) if isinstance(buyer, dict) else ""
    return page


def contract_owner(engine: Engine, contract_id: str) -> tuple[bool, str | None]:
    """(the contract exists, the owner of its deal or None)."""
    q = (
        select(_c.c.contract_id, _o.c.owner_email)
        .outerjoin(_o, _o.c.deal_id == _c.c.contract_id)
        .where(_c.c.contract_id == contract_id)
    )
    with engine.connect() as conn:
        row = conn.execute(q).one_or_none()
    return (False, None) if row is None else (True, row.owner_email)


def acceptances(engine: Engine, contract_id: str) -> list[Acceptance]:
    """The contract's accepted milestones, by key."""
    q = select(_m).where(_m.c.contract_id == contract_id).order_by(_m.c.milestone_key)
    with engine.connect() as conn:
        return [
            Acceptance(r.contract_id, r.milestone_key, r.accepted_on, r.accepted_by, r.event_id)
            for r in conn.execute(q)
        ]


def prices_in_force(engine: Engine, skus: Sequence[str], on: date) -> dict[str, dict[str, Any]]:
    """sku -> currency -> the list unit price in force on `on` (the entry with the latest day on
    or before it), for `skus`, in one query."""
    e = schema.price_list_entries
    if not skus:
        return {}
    q = (
        select(e.c.sku, e.c.currency, e.c.unit_price, e.c.valid_from)
        .where(e.c.sku.in_(list(skus)), e.c.valid_from <= on)
        .order_by(e.c.sku, e.c.currency, e.c.valid_from)
    )
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for r in conn.execute(q):  # by day: the last one seen is the one in force
            found.setdefault(r.sku, {})[r.currency] = r.unit_price
    return found
