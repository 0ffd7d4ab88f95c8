"""E-invoice validation evidence: the report an invoice was issued on

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04

Each issued invoice keeps the validation report of its e-invoice (rule set releases and findings),
checked before it was issued. Invoices issued before have none (NULL): they were not checked then.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import handoff.kernel.storage.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("invoices", sa.Column("einvoice_validation", handoff.kernel.storage.types.Json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("einvoice_validation")
