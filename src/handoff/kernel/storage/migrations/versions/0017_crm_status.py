"""CRM status: the last invoice and payment status queued for each CRM deal

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

Only a new table. Nothing before it recorded what was written back, so it starts empty: the first
change to an invoice after the upgrade writes its whole status once (`deals.service.crm_status`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import handoff.kernel.storage.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_status",
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("crm_deal_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("invoice_number", sa.String(length=60), nullable=False),
        sa.Column("facts", handoff.kernel.storage.types.Json, nullable=False),
        sa.Column("queued_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("target", "crm_deal_id", name=op.f("pk_crm_status")),
    )


def downgrade() -> None:
    op.drop_table("crm_status")
