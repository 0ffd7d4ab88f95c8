"""ECB reference exchange rates by day

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

`exchange_rates`: the ECB's euro reference rates (1 EUR = rate CCY on rate_date), one per
currency and day, imported from the ECB's eurofxref XML; issuing takes the rate of the issue date
from here before the configured `exchange_rates`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import handoff.kernel.storage.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate", handoff.kernel.storage.types.Amount(), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("imported_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rates")),
        sa.UniqueConstraint("base", "currency", "rate_date", name="uq_exchange_rates_base_currency_date"),
    )
    with op.batch_alter_table("exchange_rates", schema=None) as batch_op:
        batch_op.create_index("ix_exchange_rates_rate_date", ["rate_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("exchange_rates", schema=None) as batch_op:
        batch_op.drop_index("ix_exchange_rates_rate_date")
    op.drop_table("exchange_rates")
