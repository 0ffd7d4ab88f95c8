"""Contracts: versions, lines, schedule items and billed items

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04

Five new tables (`contracts`, `contract_versions`, `schedule_items`, `billed_items`,
`milestone_acceptances`; see `kernel/storage/schema.py`). Every order already in `orders` becomes a
contract (origin `order`, id = the deal id): version 1, with one `one_time` line per deal line
(keys L1, L2, ... in order; a deal without lines: one line of the deal amount) billed on the day
the order was received, and the buyer as the deal names it. An order already invoiced (drafted,
sent or paid, with an invoice linked through `invoice_orders`) gets a `billed_items` row per line
naming that invoice, and its schedule items are `billed`: the billing run never bills them again.
The items of an order not invoiced yet are `intake`: its deal's invoice is intake's to draft, as
before, never the billing run's. The version is written here as release 0022 stores it
(`ContractVersion.to_json`), not through the domain, so the migration keeps meaning what it meant.
Downgrade drops the tables (the orders are untouched).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from alembic import op

import handoff.kernel.storage.types

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

BATCH = 2_000
ACTOR = "migration:0022"
INVOICED = ("drafted", "sent", "paid")
CENT = Decimal("0.01")

_orders = sa.table(
    "orders",
    sa.column("id", sa.Integer),
    sa.column("deal_id", sa.String),
    sa.column("state", sa.String),
    sa.column("data", handoff.kernel.storage.types.Json),
    sa.column("customer_id", sa.String),
    sa.column("customer_name", sa.String),
    sa.column("legal_entity", sa.String),
    sa.column("owner_email", sa.String),
    sa.column("currency", sa.String),
    sa.column("amount", handoff.kernel.storage.types.Amount),
    sa.column("received_at", handoff.kernel.storage.types.UTCDateTime),
    sa.column("invoiced_at", handoff.kernel.storage.types.UTCDateTime),
)
_customers = sa.table(
    "customers",
    sa.column("customer_id", sa.String),
    sa.column("legal_name", sa.String),
    sa.column("country", sa.String),
    sa.column("vat_id", sa.String),
    sa.column("is_business", sa.Boolean),
    sa.column("billing_email", sa.String),
)
_invoices = sa.table(
    "invoices", sa.column("id", sa.Integer), sa.column("kind", sa.String), sa.column("status", sa.String)
)
_links = sa.table("invoice_orders", sa.column("invoice_id", sa.Integer), sa.column("order_id", sa.Integer))


def _tables() -> list[sa.Table]:
    amount = handoff.kernel.storage.types.Amount
    when = handoff.kernel.storage.types.UTCDateTime
    contracts = op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("legal_entity", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_terms", sa.String(length=40), nullable=False),
        sa.Column("po_number", sa.String(length=200), nullable=False),
        sa.Column("consolidate", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("planned_through", sa.Date(), nullable=True),
        sa.Column("buyer", handoff.kernel.storage.types.Json, nullable=False),
        sa.Column("created_at", when(timezone=True), nullable=False),
        sa.Column("updated_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("contract_id", name=op.f("uq_contracts_contract_id")),
    )
    op.create_index("ix_contracts_customer", "contracts", ["customer_id"])
    versions = op.create_table(
        "contract_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("change_order", sa.String(length=200), nullable=False),
        sa.Column("content", handoff.kernel.storage.types.Json, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", when(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=330), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_versions")),
        sa.UniqueConstraint("contract_id", "version", name="uq_contract_versions_contract_version"),
    )
    items = op.create_table(
        "schedule_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("line_key", sa.String(length=100), nullable=False),
        sa.Column("period_key", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=True),
        sa.Column("amount", amount(precision=20, scale=6), nullable=False),
        sa.Column("gross", amount(precision=20, scale=6), nullable=False),
        sa.Column("discount", amount(precision=20, scale=6), nullable=False),
        sa.Column("quantity", amount(precision=20, scale=6), nullable=False),
        sa.Column("unit_price", amount(precision=20, scale=6), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("product", sa.String(length=100), nullable=False),
        sa.Column("unit_code", sa.String(length=3), nullable=False),
        sa.Column("tax_category", sa.String(length=40), nullable=False),
        sa.Column("supply", sa.String(length=40), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_items")),
        sa.UniqueConstraint("contract_id", "line_key", "period_key", name="uq_schedule_items_contract_line_period"),
    )
    op.create_index(
        "ix_schedule_items_planned",
        "schedule_items",
        ["contract_id", "bill_date"],
        postgresql_where=sa.text("status = 'planned'"),
        sqlite_where=sa.text("status = 'planned'"),
    )
    billed = op.create_table(
        "billed_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("line_key", sa.String(length=100), nullable=False),
        sa.Column("period_key", sa.String(length=200), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("billed_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billed_items")),
        sa.UniqueConstraint("contract_id", "line_key", "period_key", name="uq_billed_items_contract_line_period"),
    )
    op.create_index("ix_billed_items_invoice", "billed_items", ["invoice_id"])
    op.create_table(
        "milestone_acceptances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("milestone_key", sa.String(length=100), nullable=False),
        sa.Column("accepted_on", sa.Date(), nullable=False),
        sa.Column("accepted_by", sa.String(length=330), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_milestone_acceptances")),
        sa.UniqueConstraint("contract_id", "milestone_key", name="uq_milestone_acceptances_contract_milestone"),
    )
    return [contracts, versions, items, billed]


def upgrade() -> None:
    contracts, versions, items, billed = _tables()
    _backfill(op.get_bind(), contracts, versions, items, billed)


def downgrade() -> None:
    op.drop_table("milestone_acceptances")
    op.drop_index("ix_billed_items_invoice", table_name="billed_items")
    op.drop_table("billed_items")
    op.drop_index("ix_schedule_items_planned", table_name="schedule_items")
    op.drop_table("schedule_items")
    op.drop_table("contract_versions")
    op.drop_index("ix_contracts_customer", table_name="contracts")
    op.drop_table("contracts")


# ---- orders to contracts ----


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _number(value: Any, default: str) -> Decimal:
    """A deal's number as intake reads it; an unreadable one (a deal intake never drafted) as `default`."""
    try:
        result = Decimal(_text(value) or default)
    except InvalidOperation:
        return Decimal(default)
    return result if result.is_finite() else Decimal(default)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _allowance(gross: Decimal, discount: str) -> Decimal:
    """A one-time line's allowance (`contracts.domain.schedule`): a percentage of its gross, or an amount."""
    text = discount.replace(" ", "")
    if not text:
        return Decimal(0)
    try:
        if text.endswith("%"):
            return _cents(gross * Decimal(text[:-1]) / 100)
        return min(Decimal(text), gross)
    except InvalidOperation:
        return Decimal(0)


def _lines(order: Any, data: dict[str, Any]) -> list[dict[str, Any]]:
    name = _text(data.get("deal_name"))
    raw = data.get("lines") or []
    if not raw:
        raw = [{"description": name or f"Deal {order.deal_id}", "quantity": "1", "unit_price": order.amount}]
    lines = []
    for n, ln in enumerate(raw, start=1):
        lines.append(
            {
                "key": f"L{n}",
                "product": _text(ln.get("product")),
                "description": _text(ln.get("description")) or name or f"Deal {order.deal_id}",
                "quantity": str(_number(ln.get("quantity"), "1")),
                "unit_price": str(_number(ln.get("unit_price"), "0")),
                "rule": {
                    "kind": "one_time",
                    "bill_on": None,
                    "frequency": None,
                    "timing": "in_advance",
                    "start": None,
                    "end": None,
                    "ramp": [],
                    "coterm_to": None,
                    "auto_renew": False,
                    "renewal_months": 12,
                    "notice_days": 0,
                    "notice_given_on": None,
                    "milestones": [],
                },
                "discount": _text(ln.get("discount")),
                "unit_code": "C62",
                "tax_category": _text(ln.get("tax_category")).lower() or "standard",
                "supply": _text(ln.get("supply")).lower() or "services",
            }
        )
    return lines


def _buyer(order: Any, data: dict[str, Any], customer: Any) -> dict[str, Any]:
    """The buyer as the deal names it (`deals.domain.orders.billing_customer`), with the country and
    VAT id intake resolved into `customers`."""
    country = (customer.country if customer is not None else "") or _text(data.get("country")).upper()
    vat_id = customer.vat_id if customer is not None else _text(data.get("vat_id")).replace(" ", "").upper()
    return {
        "customer_id": order.customer_id or order.deal_id,
        "legal_name": (customer.legal_name if customer is not None else "") or _text(data.get("customer_legal_name")),
        "country": country,
        "is_business": bool(customer.is_business)
        if customer is not None
        else _text(data.get("customer_type")).lower() != "consumer",
        "vat_id": vat_id,
        "billing_email": _text(data.get("billing_email")),
        "billing_contact_name": _text(data.get("billing_contact_name")),
        "address": {
            "street": _text(data.get("billing_street")),
            "city": _text(data.get("billing_city")),
            "postal_code": _text(data.get("billing_postal_code")),
            "country": country,
            "region": _text(data.get("billing_state")).upper(),
        },
        "invoice_format": _text(data.get("invoice_format")).lower() or "pdf",
        "peppol_id": _text(data.get("peppol_id")),
        "public_sector": _text(data.get("public_sector")).lower() in ("true", "yes", "y", "1", "x"),
        "leitweg_id": _text(data.get("leitweg_id")).upper(),
    }


def _backfill(conn: sa.Connection, contracts: sa.Table, versions: sa.Table, items: sa.Table, billed: sa.Table) -> None:
    now = datetime.now(UTC)
    o = _orders
    after = 0
    while True:
        chunk = conn.execute(sa.select(o).where(o.c.id > after).order_by(o.c.id).limit(BATCH)).all()
        if not chunk:
            return
        after = chunk[-1].id
        ids = [r.id for r in chunk]
        invoiced: dict[int, int] = {}
        for link in conn.execute(
            sa.select(_links.c.order_id, sa.func.min(_links.c.invoice_id).label("invoice_id"))
            .join(_invoices, _invoices.c.id == _links.c.invoice_id)
            .where(_links.c.order_id.in_(ids), _invoices.c.kind == "invoice", _invoices.c.status != "void")
            .group_by(_links.c.order_id)
        ):
            invoiced[link.order_id] = link.invoice_id
        customer_ids = {r.customer_id for r in chunk}
        c = _customers
        customers = {r.customer_id: r for r in conn.execute(sa.select(c).where(c.c.customer_id.in_(customer_ids)))}
        contract_rows, version_rows, item_rows, billed_rows = [], [], [], []
        for order in chunk:
            data = dict(order.data or {})
            start = order.received_at.date()
            lines = _lines(order, data)
            terms = {
                "customer_id": order.customer_id or order.deal_id,
                "legal_entity": order.legal_entity,
                "currency": order.currency,
                "payment_terms": _text(data.get("payment_terms")),
                "billing_start": start.isoformat(),
                "po_number": _text(data.get("po_number")),
                "signatory": "",
                "owner_email": order.owner_email or "",
                "consolidate": False,
            }
            content = {
                "contract_id": order.deal_id,
                "version": 1,
                "effective": start.isoformat(),
                "change_order": "",
                "terms": terms,
                "lines": lines,
                "documents": [],
            }
            canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            invoice_id = invoiced.get(order.id) if order.state in INVOICED else None
            contract_rows.append(
                {
                    "contract_id": order.deal_id,
                    "customer_id": terms["customer_id"],
                    "legal_entity": order.legal_entity,
                    "currency": order.currency,
                    "payment_terms": terms["payment_terms"],
                    "po_number": terms["po_number"],
                    "consolidate": False,
                    "status": "active",
                    "origin": "order",
                    "current_version": 1,
                    "planned_through": None,
                    "buyer": _buyer(order, data, customers.get(order.customer_id)),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            version_rows.append(
                {
                    "contract_id": order.deal_id,
                    "version": 1,
                    "effective": start,
                    "change_order": "",
                    "content": content,
                    "content_hash": hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
                    "created_at": now,
                    "created_by": ACTOR,
                }
            )
            for line in lines:
                quantity, price = Decimal(line["quantity"]), Decimal(line["unit_price"])
                gross = _cents(quantity * price)
                discount = _allowance(gross, line["discount"])
                item_rows.append(
                    {
                        "contract_id": order.deal_id,
                        "line_key": line["key"],
                        "period_key": "once",
                        "period_start": start,
                        "period_end": start + timedelta(days=1),
                        "bill_date": start,
                        "amount": gross - discount,
                        "gross": gross,
                        "discount": discount,
                        "quantity": quantity,
                        "unit_price": price,
                        "description": line["description"],
                        "product": line["product"][:100],
                        "unit_code": "C62",
                        "tax_category": line["tax_category"][:40],
                        "supply": line["supply"][:40],
                        "trigger": "date",
                        "status": "intake" if invoice_id is None else "billed",
                        "version": 1,
                        "invoice_id": invoice_id,
                    }
                )
                if invoice_id is not None:
                    billed_rows.append(
                        {
                            "contract_id": order.deal_id,
                            "line_key": line["key"],
                            "period_key": "once",
                            "invoice_id": invoice_id,
                            "billed_at": order.invoiced_at or now,
                        }
                    )
        for table, rows in (
            (contracts, contract_rows),
            (versions, version_rows),
            (items, item_rows),
            (billed, billed_rows),
        ):
            if rows:
                conn.execute(table.insert(), rows)
