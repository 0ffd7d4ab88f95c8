"""invoice contacts: an issued invoice's billing contact as finance changed it after issue

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

Only a new table: an invoice without a row keeps the contact of its issued document, so existing
invoices need no data.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import handoff.kernel.storage.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoice_contacts",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("billing_email", sa.String(length=320), nullable=False),
        sa.Column("billing_contact_name", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=320), nullable=False),
        sa.Column("changed_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_contacts_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoice_contacts")),
    )


def downgrade() -> None:
    op.drop_table("invoice_contacts")
