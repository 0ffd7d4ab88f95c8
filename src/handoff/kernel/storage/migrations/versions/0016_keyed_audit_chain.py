"""Keyed audit chain: the key id of each entry's HMAC

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05

`audit_log.key_id` names the key whose HMAC-SHA256 an entry carries (`kernel.audit`, scheme 2) and
`audit_head.key_id` the key of the last entry, so a process without a key sees it must not append.
The entries already there were hashed without a key: they keep an empty key id (scheme 1), which is
what they are, and verify as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLES = ("audit_log", "audit_head")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("key_id", sa.String(length=16), server_default="", nullable=False))


def downgrade() -> None:
    keyed = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_log WHERE key_id <> ''")).scalar_one()
    if keyed:  # without their key ids those entries could never be verified again
        raise RuntimeError(f"the audit trail holds {keyed} keyed entries: refusing to drop their key ids")
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("key_id")
