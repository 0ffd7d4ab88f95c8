"""schedule items carry a note and the detail of what they bill

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05

Two new columns on `schedule_items`: `note` (Text, NOT NULL, default ''), the invoice line's note
(EN 16931 BT-127) naming where a delivery item comes from ("project PRJ-D-1: 37 time entries ...",
`contracts.service.delivery.add_delivery_items`), and `detail` (JSON, NULL), the time entries and
expenses the item bills, which the billing run copies into the invoice's time and expense annex.
Existing items get '' and NULL: they bill as before. Downgrade drops both columns.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import handoff.kernel.storage.types

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schedule_items") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("detail", handoff.kernel.storage.types.Json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("schedule_items") as batch:
        batch.drop_column("detail")
        batch.drop_column("note")
