"""A customer's open invoices by index: the customer master's open balance

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04

The customer page and API sum what is open on a customer's issued invoices; without an index on
the customer that read scans every invoice. Partial, like the open-by-due-date index: only open
issued invoices are in it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

OPEN = "status = 'issued' AND kind = 'invoice' AND payment_state IN ('unpaid', 'partial')"


def upgrade() -> None:
    op.create_index(
        "ix_invoices_open_customer",
        "invoices",
        ["customer_id", "currency"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_invoices_open_customer", table_name="invoices")
