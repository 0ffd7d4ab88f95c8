"""Product catalog: products, effective-dated versions, price lists and rate cards

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04

New tables only (`contracts.domain.catalog`): `products` (each SKU's current version),
`product_versions` (every version, never rewritten; unique per SKU and version),
`price_list_entries` (unique per SKU, currency and first day valid) and `rate_cards` (unique per
role, currency and first day valid). Amounts are exact (`Amount`: NUMERIC on PostgreSQL, text on SQLite).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import handoff.kernel.storage.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("unit_code", sa.String(length=3), nullable=False),
        sa.Column("tax_category", sa.String(length=40), nullable=False),
        sa.Column("gl_account", sa.String(length=40), nullable=False),
        sa.Column("revenue_rule", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_products_sku")),
    )
    op.create_table(
        "product_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column(
            "content", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=330), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["sku"], ["products.sku"], name=op.f("fk_product_versions_sku_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_versions")),
        sa.UniqueConstraint("sku", "version", name="uq_product_versions_sku_version"),
    )
    op.create_table(
        "price_list_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit_price", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("created_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=330), nullable=False),
        sa.ForeignKeyConstraint(["sku"], ["products.sku"], name=op.f("fk_price_list_entries_sku_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_list_entries")),
        sa.UniqueConstraint("sku", "currency", "valid_from", name="uq_price_list_entries_sku_currency_from"),
    )
    op.create_table(
        "rate_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("hourly_rate", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("created_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=330), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_cards")),
        sa.UniqueConstraint("role", "currency", "valid_from", name="uq_rate_cards_role_currency_from"),
    )


def downgrade() -> None:
    op.drop_table("rate_cards")
    op.drop_table("price_list_entries")
    op.drop_table("product_versions")
    op.drop_table("products")
