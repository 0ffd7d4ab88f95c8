"""Orders per state kept as counts, maintained by triggers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

Counting a million orders by state costs hundreds of milliseconds; the dashboard reads the
counts instead. Each insert, delete or change of state (or of had_exception) on `orders` appends
signed deltas to `order_state_counts`, in the same transaction, whatever code path wrote the order.
Appending instead of updating one row per state keeps concurrent writers from queueing on a hot
row; `handoff.reporting.service.metrics.compact_state_counts` folds the deltas from time to time.

SQLite drops a table's triggers when a batch migration rebuilds it: a later migration that
alters `orders` on SQLite must create them again (`create_triggers`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DELTA = "INSERT INTO order_state_counts (state, had_exception, n) VALUES ({row}.state, {row}.had_exception, {n});"
CHANGED = "OLD.state IS DISTINCT FROM NEW.state OR OLD.had_exception IS DISTINCT FROM NEW.had_exception"

POSTGRES = [
    f"""CREATE FUNCTION orders_count_states() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {DELTA.format(row="OLD", n=-1)} END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN {DELTA.format(row="NEW", n=1)} END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER orders_count_insert_delete AFTER INSERT OR DELETE ON orders "
    "FOR EACH ROW EXECUTE FUNCTION orders_count_states()",
    f"CREATE TRIGGER orders_count_update AFTER UPDATE OF state, had_exception ON orders "
    f"FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION orders_count_states()",
]
SQLITE = [
    f"CREATE TRIGGER orders_count_insert AFTER INSERT ON orders BEGIN {DELTA.format(row='NEW', n=1)} END",
    f"CREATE TRIGGER orders_count_delete AFTER DELETE ON orders BEGIN {DELTA.format(row='OLD', n=-1)} END",
    f"CREATE TRIGGER orders_count_update AFTER UPDATE OF state, had_exception ON orders "
    f"WHEN {CHANGED.replace('IS DISTINCT FROM', 'IS NOT')} "
    f"BEGIN {DELTA.format(row='OLD', n=-1)} {DELTA.format(row='NEW', n=1)} END",
]


def create_triggers() -> None:
    for statement in POSTGRES if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "order_state_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("had_exception", sa.Boolean(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_state_counts")),
    )
    op.execute(
        "INSERT INTO order_state_counts (state, had_exception, n) "
        "SELECT state, had_exception, count(*) FROM orders GROUP BY state, had_exception"
    )
    create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER orders_count_update ON orders")
        op.execute("DROP TRIGGER orders_count_insert_delete ON orders")
        op.execute("DROP FUNCTION orders_count_states()")
    else:
        for name in ("orders_count_insert", "orders_count_delete", "orders_count_update"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("order_state_counts")
