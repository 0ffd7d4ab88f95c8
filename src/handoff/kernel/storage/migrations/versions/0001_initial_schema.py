"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import handoff.kernel.storage.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "before", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column(
            "after", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entity", ["entity_type", "entity_id"], unique=False)

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("legal_name", sa.String(length=300), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("vat_id", sa.String(length=40), nullable=False),
        sa.Column("is_business", sa.Boolean(), nullable=False),
        sa.Column("billing_email", sa.String(length=320), nullable=False),
        sa.Column("updated_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_customers_customer_id")),
    )
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("deal_id", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("processed_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox")),
        sa.UniqueConstraint("source", "event_id", name="uq_inbox_source_event"),
    )
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_pending", ["status", "id"], unique=False)

    op.create_table(
        "invoice_sequences",
        sa.Column("legal_entity", sa.String(length=40), nullable=False),
        sa.Column("series", sa.String(length=8), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("legal_entity", "series", "year", name=op.f("pk_invoice_sequences")),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_key", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payment_state", sa.String(length=16), nullable=False),
        sa.Column("legal_entity", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("customer_name", sa.String(length=300), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("net_amount", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=False),
        sa.Column("tax_amount", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=False),
        sa.Column("gross_amount", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=False),
        sa.Column("paid_amount", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("payment_reference", sa.String(length=40), nullable=True),
        sa.Column(
            "document", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("draft_key", name=op.f("uq_invoices_draft_key")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index("ix_invoices_status", ["status", "payment_state"], unique=False)

    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("worker", sa.String(length=80), nullable=False),
        sa.Column("started_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("job", "period", name=op.f("pk_job_runs")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version_event", sa.String(length=200), nullable=False),
        sa.Column(
            "data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("customer_name", sa.String(length=300), nullable=False),
        sa.Column("legal_entity", sa.String(length=40), nullable=False),
        sa.Column("owner_email", sa.String(length=320), nullable=False),
        sa.Column("amount", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("received_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ready_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("invoiced_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("deal_id", name=op.f("uq_orders_deal_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_owner", ["owner_email"], unique=False)
        batch_op.create_index("ix_orders_state", ["state"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("claimed_until", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=False),
        sa.Column(
            "problems", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_exceptions_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exceptions")),
    )
    with op.batch_alter_table("exceptions", schema=None) as batch_op:
        batch_op.create_index("ix_exceptions_order", ["order_id"], unique=False)
        batch_op.create_index("ix_exceptions_status_owner", ["status", "owner"], unique=False)

    op.create_table(
        "invoice_orders",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_orders_invoice_id_invoices")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_invoice_orders_order_id_orders")),
        sa.PrimaryKeyConstraint("invoice_id", "order_id", name=op.f("pk_invoice_orders")),
    )
    with op.batch_alter_table("invoice_orders", schema=None) as batch_op:
        batch_op.create_index("ix_invoice_orders_order", ["order_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_key", sa.String(length=100), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", handoff.kernel.storage.types.Amount(precision=20, scale=6), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("received_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_payments_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("payment_key", name=op.f("uq_payments_payment_key")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_invoice", ["invoice_id"], unique=False)

    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=320), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_tasks_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("order_id", "kind", name="uq_tasks_order_kind"),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_status", ["status"], unique=False)

    # The audit chain starts at a genesis head; seeded here so concurrent first writers never race.
    op.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')")


def downgrade() -> None:

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_status")

    op.drop_table("tasks")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_invoice")

    op.drop_table("payments")
    with op.batch_alter_table("invoice_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_invoice_orders_order")

    op.drop_table("invoice_orders")
    with op.batch_alter_table("exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_exceptions_status_owner")
        batch_op.drop_index("ix_exceptions_order")

    op.drop_table("exceptions")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_state")
        batch_op.drop_index("ix_orders_owner")

    op.drop_table("orders")
    op.drop_table("job_runs")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_status")

    op.drop_table("invoices")
    op.drop_table("invoice_sequences")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_pending")

    op.drop_table("inbox")
    op.drop_table("customers")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entity")

    op.drop_table("audit_log")
    op.drop_table("audit_head")
