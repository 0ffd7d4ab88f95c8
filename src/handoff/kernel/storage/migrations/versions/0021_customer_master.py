"""Customer master: effective-dated customer versions and source-system ids

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04

Two new tables (`customer_versions`, `customer_external_ids`). Every customer already in
`customers` gets version 1, valid since 1970-01-01 (`customers.domain.SINCE_ALWAYS`), with what the
row holds (legal name, country, VAT id, business or consumer, billing e-mail), changed by
`migration:0021`. Its source id is linked where an order of the customer came from a CRM (an
order's `source` without a `:`, which file, webhook and user sources have): the CRMs' mappings take
the customer id from the CRM's company or account id. The content is written here as release 0021
stores it, not through the domain, so the migration keeps meaning what it meant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import handoff.kernel.storage.types

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

SINCE_ALWAYS = date(1970, 1, 1)
BATCH = 5_000
NOT_CRM = ("tax-retry",)  # sources without a `:` that are not a CRM

_customers = sa.table(
    "customers",
    sa.column("customer_id", sa.String),
    sa.column("legal_name", sa.String),
    sa.column("country", sa.String),
    sa.column("vat_id", sa.String),
    sa.column("is_business", sa.Boolean),
    sa.column("billing_email", sa.String),
    sa.column("updated_at", handoff.kernel.storage.types.UTCDateTime),
)
_orders = sa.table("orders", sa.column("source", sa.String), sa.column("customer_id", sa.String))


def _content(row: Any) -> dict[str, Any]:
    vat_id = "".join(ch for ch in (row.vat_id or "") if ch not in " .-/\t").upper()
    country = row.country or ""
    vat_country = country or ("GR" if vat_id[:2] == "EL" else vat_id[:2])
    email = (row.billing_email or "").strip()
    return {
        "legal_name": row.legal_name,
        "vat_ids": {vat_country: vat_id} if vat_id else {},
        "us_tax_id": "",
        "is_business": bool(row.is_business),
        "billing_contacts": [{"name": "", "email": email, "role": "billing"}] if email else [],
        "invoice_language": "en",
        "delivery_channel": "email",
        "peppol_id": "",
        "consolidated_invoicing": False,
        "billing_address": {"street": "", "city": "", "postal_code": "", "country": country, "region": ""},
    }


def upgrade() -> None:
    versions = op.create_table(
        "customer_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("content", handoff.kernel.storage.types.Json, nullable=False),
        sa.Column("changed_by", sa.String(length=330), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_versions")),
        sa.UniqueConstraint("customer_id", "version", name="uq_customer_versions_customer_version"),
    )
    links = op.create_table(
        "customer_external_ids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("linked_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_external_ids")),
        sa.UniqueConstraint("source", "external_id", name="uq_customer_external_ids_source_external"),
        sa.UniqueConstraint("customer_id", "source", name="uq_customer_external_ids_customer_source"),
    )
    _backfill(op.get_bind(), versions, links)


def _backfill(conn: sa.Connection, versions: sa.Table, links: sa.Table) -> None:
    now = datetime.now(UTC)
    c = _customers
    rows = conn.execute(sa.select(c).order_by(c.c.customer_id))
    while chunk := rows.fetchmany(BATCH):
        conn.execute(
            versions.insert(),
            [
                {
                    "customer_id": r.customer_id,
                    "version": 1,
                    "valid_from": SINCE_ALWAYS,
                    "content": _content(r),
                    "changed_by": "migration:0021",
                    "reason": "the customer as intake last stored it (before the customer master)",
                    "recorded_at": r.updated_at or now,
                }
                for r in chunk
            ],
        )
    o = _orders
    crm = sa.and_(~o.c.source.contains(":"), o.c.source.notin_(NOT_CRM), o.c.source != "")
    known = (
        sa.select(o.c.source, o.c.customer_id, sa.func.min(c.c.updated_at).label("at"))
        .join(c, c.c.customer_id == o.c.customer_id)
        .where(crm)
        .group_by(o.c.source, o.c.customer_id)
        .order_by(o.c.customer_id, o.c.source)
    )
    found = conn.execute(known)
    while chunk := found.fetchmany(BATCH):
        conn.execute(
            links.insert(),
            [
                {"source": r.source, "external_id": r.customer_id, "customer_id": r.customer_id, "linked_at": r.at}
                for r in chunk
            ],
        )


def downgrade() -> None:
    op.drop_table("customer_external_ids")
    op.drop_table("customer_versions")
