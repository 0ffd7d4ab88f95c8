"""Read models of contracts for people (the API and the pages): contracts as a filtered page, who
owns a contract's deal, a contract's milestone acceptances, and the list prices in force for a page
of catalog products. Reads only; nothing here commits.

A contract locked from a deal has the deal's id; its owner is the order's `owner_email`, read
(read-only) from `orders`, so sales users see the contracts of the deals they own, as they see
those deals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Engine, String, and_, func, literal_column, or_, select

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


class OutlookItem(NamedTuple):
    """A schedule item for the cash forecast: what it bills and when, its contract's customer, currency
    and terms, when the contract was created, and when the invoice that billed it was issued."""

    contract_id: str
    customer_id: str
    currency: str
    payment_terms: str
    contract_created: datetime
    contract_status: str
    line_key: str
    period_key: str
    period_start: date
    bill_date: date | None  # a milestone's: its acceptance day (None until accepted)
    amount: Decimal  # net
    trigger: str
    status: str  # planned | billed
    invoice_issue_date: date | None


def schedule_outlook(engine: Engine, include_billed: bool = False) -> list[OutlookItem]:
    """Every planned schedule item, every billed one whose invoice is still a draft and every billed
    milestone (with `include_billed`: every billed item) with its contract's terms, in one query: the
    cash forecast reads what is not invoiced yet and how long milestones took to be accepted, its
    backtest also what was invoiced (with the invoice's issue date)."""
    inv = schema.invoices
    q = (
        select(
            _s.c.contract_id,
            _c.c.customer_id,
            _c.c.currency,
            _c.c.payment_terms,
            _c.c.created_at,
            _c.c.status.label("contract_status"),
            _s.c.line_key,
            _s.c.period_key,
            _s.c.period_start,
            _s.c.bill_date,
            _s.c.amount,
            _s.c.trigger,
            _s.c.status,
            inv.c.issue_date,
        )
        .join(_c, _c.c.contract_id == _s.c.contract_id)
        .outerjoin(inv, inv.c.id == _s.c.invoice_id)
        .where(
            _s.c.status.in_(["planned", "billed"])
            if include_billed
            else or_(
                _s.c.status == "planned",
                and_(_s.c.status == "billed", or_(inv.c.status == "draft", _s.c.trigger == "milestone")),
            )
        )
        .order_by(_s.c.contract_id, _s.c.line_key, _s.c.period_start, _s.c.period_key)
    )
    with engine.connect() as conn:
        return [OutlookItem._make(r) for r in conn.execute(q)]


def current_versions(
    engine: Engine, after: str = "", limit: int = 500
) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """Up to `limit` contracts after `after` (by id, in order): (contract id, status, buyer, the
    current version's content)."""
    v = schema.contract_versions
    q = (
        select(_c.c.contract_id, _c.c.status, _c.c.buyer, v.c.content)
        .join(v, (v.c.contract_id == _c.c.contract_id) & (v.c.version == _c.c.current_version))
        .where(_c.c.contract_id > after)
        .order_by(_c.c.contract_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [(r.contract_id, r.status, dict(r.buyer), dict(r.content)) for r in conn.execute(q)]
