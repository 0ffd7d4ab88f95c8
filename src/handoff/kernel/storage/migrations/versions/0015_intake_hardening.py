"""Intake hardening: the inbox's `source` holds a person's whole address

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

Intake now refuses, before storing, what the columns cannot hold (`deals.domain.admission`), and a
reused event id with another deal is found by comparing the stored payload: the tables stay as
they are, but one: a person's fix is stored as an event from `user:ADDRESS`, and an address may
have 320 characters, so `inbox.source` grows from 40 to 330 (PostgreSQL enforced the 40 and
refused the fixes of anyone with an address over 35 characters). `orders.source` keeps 40: only a
deal's first delivery, always from a CRM or a file, sets it. A downgrade fails on PostgreSQL while
a longer source is stored, rather than cut it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _source_length(before: int, after: int) -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.alter_column(
            "source", existing_type=sa.String(length=before), type_=sa.String(length=after), existing_nullable=False
        )


def upgrade() -> None:
    _source_length(40, 330)


def downgrade() -> None:
    _source_length(330, 40)
