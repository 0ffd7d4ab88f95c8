"""Change orders and terms review

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04

One new table, `change_orders` (each change order applied to a contract: its key, unique per
contract, effective date, content as `ChangeOrder.to_json` wrote it, status, who and when), and one
new column, `contracts.review_state` (pending | approved | rejected: a contract whose terms wait for
the deal desk's approval is not billed). Existing contracts are `approved`: they were locked before
terms were reviewed. `approvals.subject` widens from 60 to 200 characters: a `contract_terms`
approval's subject is a contract id (up to 200). Downgrade drops the table and the column and
narrows the subject again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import handoff.kernel.storage.types

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("content", handoff.kernel.storage.types.Json, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=330), nullable=False),
        sa.Column("created_at", handoff.kernel.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_id", "key", name="uq_change_orders_contract_key"),
    )
    with op.batch_alter_table("contracts") as batch:
        batch.add_column(sa.Column("review_state", sa.String(length=16), nullable=False, server_default="approved"))
    with op.batch_alter_table("approvals") as batch:
        batch.alter_column("subject", existing_type=sa.String(length=60), type_=sa.String(length=200))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.alter_column("subject", existing_type=sa.String(length=200), type_=sa.String(length=60))
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("review_state")
    op.drop_table("change_orders")
