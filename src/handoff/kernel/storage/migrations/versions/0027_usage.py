"""Usage: billable metrics, usage prices, events, aggregates

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05

Seven new tables (see `kernel/storage/schema.py`): `billable_metrics`, `usage_prices`,
`usage_transactions` (the idempotency key: one row per transaction id ever accepted, unique),
`usage_events` (the raw events, for audit and for recomputing one aggregate), `usage_aggregates`
(one row per contract, line, metric, period and group, kept as events arrive: rating reads only
these), `usage_unique_values` and `usage_credits`. Nothing is backfilled.

PostgreSQL: `usage_events` is partitioned by RANGE of `received_at`, one partition per calendar month
(UTC) named `usage_events_pYYYY_MM`. Its primary key is (id, received_at), since a unique index of a
partitioned table must hold the partition key; that is why the idempotency key lives in
`usage_transactions` instead. No partition is made here and there is no default partition:
`usage.repository.events.UsageEventRepository.ensure_partitions` makes the receiving month's (and the
next month's, ahead of need) with `CREATE TABLE IF NOT EXISTS ... PARTITION OF ...` inside the
ingest transaction, under a transaction-scoped advisory lock so two writers never race on it (a
default partition would have to be emptied before a month's partition could be attached).
Retention: partitions whose month ended more than `usage.retention_months` (default 25: two
years of audit plus the month in dispute) before the day are dropped whole
(`usage.service.rating.prune_usage_events`, run by the daily `usage_rating` job); the aggregates,
transactions and invoices stay. SQLite keeps a plain table and deletes its rows by `received_at`.
Downgrade drops the tables (on PostgreSQL the partitions with their parent).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import handoff.kernel.storage.types

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def _big_id() -> sa.BigInteger:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    amount = handoff.kernel.storage.types.Amount
    when = handoff.kernel.storage.types.UTCDateTime
    json = handoff.kernel.storage.types.Json
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "billable_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("definition", json, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("updated_by", sa.String(length=330), nullable=False),
        sa.Column("updated_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billable_metrics")),
        sa.UniqueConstraint("code", name=op.f("uq_billable_metrics_code")),
    )
    op.create_table(
        "usage_prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("line_key", sa.String(length=100), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("price", json, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=330), nullable=False),
        sa.Column("updated_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_prices")),
        sa.UniqueConstraint("contract_id", "line_key", name="uq_usage_prices_contract_line"),
    )
    op.create_table(
        "usage_transactions",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("transaction_id", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("line_key", sa.String(length=100), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("group_key", sa.String(length=200), nullable=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("occurred_at", when(timezone=True), nullable=False),
        sa.Column("received_at", when(timezone=True), nullable=False),
        sa.Column("reverses", sa.String(length=200), nullable=False),
        sa.Column("reversed_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_transactions")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_usage_transactions_transaction_id")),
    )
    event_columns: list[sa.Column[object]] = [
        sa.Column("transaction_id", sa.String(length=200), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("line_key", sa.String(length=100), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", when(timezone=True), nullable=False),
        sa.Column("received_at", when(timezone=True), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("group_key", sa.String(length=200), nullable=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("properties", json, nullable=False),
        sa.Column("reverses", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("aggregate_id", sa.Integer(), nullable=True),
    ]
    if postgres:  # partitioned by month of arrival; the key must hold the partition column
        op.create_table(
            "usage_events",
            sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
            *event_columns,
            sa.PrimaryKeyConstraint("id", "received_at", name=op.f("pk_usage_events")),
            postgresql_partition_by="RANGE (received_at)",
        )
    else:
        op.create_table(
            "usage_events",
            sa.Column("id", sa.Integer(), nullable=False),
            *event_columns,
            sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        )
    op.create_index("ix_usage_events_aggregate", "usage_events", ["aggregate_id"])
    op.create_table(
        "usage_aggregates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("line_key", sa.String(length=100), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("group_key", sa.String(length=200), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total", amount(precision=20, scale=6), nullable=False),
        sa.Column("maximum", amount(precision=20, scale=6), nullable=True),
        sa.Column("latest_at", when(timezone=True), nullable=True),
        sa.Column("latest_txn", sa.String(length=200), nullable=True),
        sa.Column("latest_value", amount(precision=20, scale=6), nullable=True),
        sa.Column("uniques", sa.Integer(), nullable=False),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.Column("rated_key", sa.String(length=200), nullable=True),
        sa.Column("rated_at", when(timezone=True), nullable=True),
        sa.Column("updated_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_aggregates")),
        sa.UniqueConstraint(
            "contract_id",
            "line_key",
            "metric",
            "period",
            "group_key",
            name="uq_usage_aggregates_subscription_period_group",
        ),
    )
    op.create_index(
        "ix_usage_aggregates_open",
        "usage_aggregates",
        ["period", "contract_id"],
        postgresql_where=sa.text("rated_key IS NULL"),
        sqlite_where=sa.text("rated_key IS NULL"),
    )
    op.create_table(
        "usage_unique_values",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("aggregate_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("refcount", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_unique_values")),
        sa.UniqueConstraint("aggregate_id", "value", name="uq_usage_unique_values_aggregate_value"),
    )
    op.create_table(
        "usage_credits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("line_key", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("period_key", sa.String(length=200), nullable=False),
        sa.Column("drawn", amount(precision=20, scale=6), nullable=False),
        sa.Column("balance", amount(precision=20, scale=6), nullable=False),
        sa.Column("drawn_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_credits")),
        sa.UniqueConstraint("contract_id", "line_key", "period_key", name="uq_usage_credits_contract_line_period"),
    )


def downgrade() -> None:
    for table in (
        "usage_credits",
        "usage_unique_values",
        "usage_aggregates",
        "usage_events",
        "usage_transactions",
        "usage_prices",
        "billable_metrics",
    ):
        op.drop_table(table)
