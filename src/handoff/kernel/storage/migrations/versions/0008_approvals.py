"""approvals: sensitive steps (credit notes) wait for a second person

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

Only a new table, so it re-links cleanly after migrations of other branches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import handoff.kernel.storage.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=60), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=320), nullable=False),
        sa.Column("requested_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decided_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("result_invoice_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["result_invoice_id"], ["invoices.id"], name=op.f("fk_approvals_result_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    op.create_index("ix_approvals_status", "approvals", ["status", "requested_at"], unique=False)
    op.create_index("ix_approvals_subject", "approvals", ["kind", "subject"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_approvals_subject", table_name="approvals")
    op.drop_index("ix_approvals_status", table_name="approvals")
    op.drop_table("approvals")
