"""Amendments after invoicing are resolved: `amendment_resolutions`

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

A deal changed after it was invoiced opens a `review_amendment` task. Finance now resolves it:
bills the difference (an invoice draft for it), credits it (credit-note requests, approved by a
second person) or dismisses it with a reason. Each step is a row here, with who, when, why, the
deal version it was taken against and the difference as it stood; the price adjustment lines of a
difference invoice are recorded there too, so a later amendment compares against the raised
price. Only a new table: nothing to fill from existing data (no task was ever resolved before).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import handoff.kernel.storage.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _json() -> sa.JSON:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "amendment_resolutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.String(length=200), nullable=False),
        sa.Column("version_event", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("resolved_by", sa.String(length=320), nullable=False),
        sa.Column("resolved_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("approval_ids", _json(), nullable=False),
        sa.Column("difference", _json(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_amendment_resolutions_task_id_tasks")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_amendment_resolutions_order_id_orders")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_amendment_resolutions_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_amendment_resolutions")),
    )
    op.create_index("ix_amendment_resolutions_task", "amendment_resolutions", ["task_id", "id"], unique=False)
    op.create_index("ix_amendment_resolutions_order", "amendment_resolutions", ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_amendment_resolutions_order", table_name="amendment_resolutions")
    op.drop_index("ix_amendment_resolutions_task", table_name="amendment_resolutions")
    op.drop_table("amendment_resolutions")
