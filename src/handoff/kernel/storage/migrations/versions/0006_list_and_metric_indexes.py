"""Indexes for lists and metrics at scale; automation facts on orders; exception reasons

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Lists are paged newest first, so their indexes follow that order; the metrics need, per order,
whether it ever had an exception or a person's edit, kept as the flow runs. On PostgreSQL, text
search uses trigram indexes (extension pg_trgm, shipped with PostgreSQL's contrib modules).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from handoff.kernel.storage.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TRIGRAM = (
    ("ix_orders_deal_trgm", "deal_id"),
    ("ix_orders_customer_trgm", "customer_name"),
    ("ix_orders_owner_trgm", "owner_email"),
)


def reasons(problems: list[dict[str, str]]) -> str:
    return "|" + "|".join(sorted({p["field"] for p in problems} | {p["code"] for p in problems})) + "|"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("had_exception", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("touched_by_person", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("cycle_seconds", sa.BigInteger()))
        batch.drop_index("ix_orders_state")
        batch.drop_index("ix_orders_owner")
        batch.create_index("ix_orders_received", ["received_at", "id"])
        batch.create_index("ix_orders_state", ["state", "received_at", "id"])
        batch.create_index("ix_orders_owner", ["owner_email", "received_at", "id"])
        batch.create_index("ix_orders_customer", ["customer_id"])
        batch.create_index(
            "ix_orders_invoiced",
            ["invoiced_at"],
            postgresql_include=["cycle_seconds", "had_exception", "touched_by_person"],
        )
        batch.create_index(
            "ix_orders_had_exception",
            ["state"],
            postgresql_where=sa.text("had_exception"),
            sqlite_where=sa.text("had_exception"),
        )
    with op.batch_alter_table("invoices") as batch:
        batch.create_index(
            "ix_invoices_open_due",
            ["currency", "due_date"],
            postgresql_include=["gross_amount", "paid_amount"],
            postgresql_where=sa.text("status = 'issued' AND payment_state <> 'paid'"),
            sqlite_where=sa.text("status = 'issued' AND payment_state <> 'paid'"),
        )
    with op.batch_alter_table("exceptions") as batch:
        batch.add_column(sa.Column("reasons", sa.String(1000), nullable=False, server_default=""))
        batch.create_index("ix_exceptions_queue", ["status", "opened_at", "id"])
        batch.drop_index("ix_exceptions_status_owner")
        batch.create_index("ix_exceptions_status_owner", ["status", "owner", "opened_at"])
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_status")
        batch.create_index("ix_tasks_status", ["status", "created_at", "id"])
    conn = op.get_bind()
    # owners are matched case-insensitively by storing them lower-case
    conn.execute(sa.text("UPDATE orders SET owner_email = lower(owner_email)"))
    conn.execute(sa.text("UPDATE exceptions SET owner = lower(owner)"))
    conn.execute(sa.text("UPDATE orders SET had_exception = true WHERE id IN (SELECT order_id FROM exceptions)"))
    conn.execute(
        sa.text(
            "UPDATE orders SET touched_by_person = true WHERE deal_id IN "
            "(SELECT deal_id FROM inbox WHERE source LIKE 'user:%')"
        )
    )
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text(
                "UPDATE orders SET cycle_seconds = greatest(0, extract(epoch FROM invoiced_at - received_at))"
                "::bigint WHERE invoiced_at IS NOT NULL"
            )
        )
    else:  # SQLite keeps times as text: subtract them in Python
        orders = sa.table(
            "orders",
            sa.column("id", sa.Integer),
            sa.column("received_at", UTCDateTime),
            sa.column("invoiced_at", UTCDateTime),
            sa.column("cycle_seconds", sa.BigInteger),
        )
        invoiced = conn.execute(
            sa.select(orders.c.id, orders.c.received_at, orders.c.invoiced_at).where(orders.c.invoiced_at.is_not(None))
        ).all()
        for row_id, received_at, invoiced_at in invoiced:
            seconds = max(0, int((invoiced_at - received_at).total_seconds()))
            conn.execute(orders.update().where(orders.c.id == row_id).values(cycle_seconds=seconds))
    rows = conn.execute(sa.text("SELECT id, problems FROM exceptions")).all()
    for row_id, problems in rows:
        value = problems if isinstance(problems, list) else json.loads(problems)
        conn.execute(sa.text("UPDATE exceptions SET reasons = :r WHERE id = :id"), {"r": reasons(value), "id": row_id})
    if conn.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, column in TRIGRAM:
            op.execute(f"CREATE INDEX {name} ON orders USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _ in TRIGRAM:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_status")
        batch.create_index("ix_tasks_status", ["status"])
    with op.batch_alter_table("exceptions") as batch:
        batch.drop_index("ix_exceptions_status_owner")
        batch.create_index("ix_exceptions_status_owner", ["status", "owner"])
        batch.drop_index("ix_exceptions_queue")
        batch.drop_column("reasons")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_index("ix_invoices_open_due")
    with op.batch_alter_table("orders") as batch:
        for name in (
            "ix_orders_had_exception",
            "ix_orders_invoiced",
            "ix_orders_customer",
            "ix_orders_owner",
            "ix_orders_state",
            "ix_orders_received",
        ):
            batch.drop_index(name)
        batch.create_index("ix_orders_state", ["state"])
        batch.create_index("ix_orders_owner", ["owner_email"])
        batch.drop_column("cycle_seconds")
        batch.drop_column("touched_by_person")
        batch.drop_column("had_exception")
