"""cash: bank statements, cash application, disputes, dunning

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Only new tables (nothing altered), so it re-links cleanly after migrations of other branches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import handoff.kernel.storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bank_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_key", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("statement_id", sa.String(length=200), nullable=False),
        sa.Column("account", sa.String(length=60), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("opening", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=True),
        sa.Column("closing", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=True),
        sa.Column("balance_status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("imported_by", sa.String(length=320), nullable=False),
        sa.Column("imported_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_statements")),
        sa.UniqueConstraint("statement_key", name=op.f("uq_bank_statements_statement_key")),
    )
    op.create_table(
        "dunning_pauses",
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("paused_by", sa.String(length=320), nullable=False),
        sa.Column("paused_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_dunning_pauses")),
    )
    op.create_table(
        "bank_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("amount", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=True),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("counterparty_name", sa.String(length=300), nullable=False),
        sa.Column("counterparty_account", sa.String(length=60), nullable=False),
        sa.Column("remittance", sa.Text(), nullable=False),
        sa.Column("structured_reference", sa.String(length=60), nullable=False),
        sa.Column("bank_reference", sa.String(length=200), nullable=False),
        sa.Column("end_to_end_id", sa.String(length=200), nullable=False),
        sa.Column("booked", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=True),
        sa.Column("updated_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_id"], ["bank_statements.id"], name=op.f("fk_bank_lines_statement_id_bank_statements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_lines")),
        sa.UniqueConstraint("line_id", name=op.f("uq_bank_lines_line_id")),
    )
    with op.batch_alter_table("bank_lines", schema=None) as batch_op:
        batch_op.create_index("ix_bank_lines_statement", ["statement_id"], unique=False)
        batch_op.create_index("ix_bank_lines_status", ["status"], unique=False)

    op.create_table(
        "dunning_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("tone", sa.String(length=16), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("sent_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "recipients", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("outbox_key", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_dunning_reminders_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dunning_reminders")),
        sa.UniqueConstraint("invoice_id", "level", name="uq_dunning_reminders_invoice_level"),
    )
    op.create_table(
        "invoice_disputes",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_by", sa.String(length=320), nullable=False),
        sa.Column("opened_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_disputes_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoice_disputes")),
    )
    op.create_table(
        "cash_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_line_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column(
            "evidence", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "alternatives",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("unapplied", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=False),
        sa.Column("proposed_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decided_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=320), nullable=True),
        sa.Column("undone_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["bank_line_id"], ["bank_lines.id"], name=op.f("fk_cash_matches_bank_line_id_bank_lines")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_matches")),
    )
    with op.batch_alter_table("cash_matches", schema=None) as batch_op:
        batch_op.create_index("ix_cash_matches_line", ["bank_line_id"], unique=False)
        batch_op.create_index("ix_cash_matches_status", ["status"], unique=False)

    op.create_table(
        "cash_allocations",
        sa.Column("match_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=False),
        sa.Column("write_off", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_cash_allocations_invoice_id_invoices")),
        sa.ForeignKeyConstraint(
            ["match_id"], ["cash_matches.id"], name=op.f("fk_cash_allocations_match_id_cash_matches")
        ),
        sa.PrimaryKeyConstraint("match_id", "invoice_id", name=op.f("pk_cash_allocations")),
    )
    with op.batch_alter_table("cash_allocations", schema=None) as batch_op:
        batch_op.create_index("ix_cash_allocations_invoice", ["invoice_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cash_allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_cash_allocations_invoice")

    op.drop_table("cash_allocations")
    with op.batch_alter_table("cash_matches", schema=None) as batch_op:
        batch_op.drop_index("ix_cash_matches_status")
        batch_op.drop_index("ix_cash_matches_line")

    op.drop_table("cash_matches")
    op.drop_table("invoice_disputes")
    op.drop_table("dunning_reminders")
    with op.batch_alter_table("bank_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_lines_status")
        batch_op.drop_index("ix_bank_lines_statement")

    op.drop_table("bank_lines")
    op.drop_table("dunning_pauses")
    op.drop_table("bank_statements")
