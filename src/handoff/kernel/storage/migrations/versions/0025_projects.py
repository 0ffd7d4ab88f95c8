"""projects, time entries, expenses, postings

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05

Six new tables (see `kernel/storage/schema.py`): `projects` (one per contract with time-and-materials
or milestone lines, with its plan), `project_external_ids` (its ids in the project tool and the time
trackers), `time_entries` and `expenses` (delivery signals, unique per source and the source's id,
with what was posted of them), `delivery_postings` (which entry revision went into which schedule
item) and `project_alerts` (raised once per project, kind and key). Nothing is backfilled: projects
are opened from the contracts by `projects.service.projects.open_projects`. Downgrade drops them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import handoff.kernel.storage.types

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    amount = handoff.kernel.storage.types.Amount
    when = handoff.kernel.storage.types.UTCDateTime
    json = handoff.kernel.storage.types.Json
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=200), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("manager_email", sa.String(length=320), nullable=False),
        sa.Column("plan", json, nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("closed_through", sa.Date(), nullable=True),
        sa.Column("postings", sa.Integer(), nullable=False),
        sa.Column("posted_time_amount", amount(precision=20, scale=6), nullable=False),
        sa.Column("retainer_hours", amount(precision=20, scale=6), nullable=True),
        sa.Column("topups", sa.Integer(), nullable=False),
        sa.Column("created_at", when(timezone=True), nullable=False),
        sa.Column("updated_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("project_id", name=op.f("uq_projects_project_id")),
        sa.UniqueConstraint("contract_id", name=op.f("uq_projects_contract_id")),
    )
    op.create_index("ix_projects_customer", "projects", ["customer_id"])
    op.create_table(
        "project_external_ids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=200), nullable=False),
        sa.Column("system", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("linked_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_external_ids")),
        sa.UniqueConstraint("system", "external_id", name="uq_project_external_ids_system_external"),
        sa.UniqueConstraint("project_id", "system", name="uq_project_external_ids_project_system"),
    )
    op.create_table(
        "time_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("person", sa.String(length=330), nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("hours", amount(precision=20, scale=6), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("phase", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("source_updated_at", when(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=330), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("posted_revision", sa.Integer(), nullable=False),
        sa.Column("posted_role", sa.String(length=100), nullable=False),
        sa.Column("posted_month", sa.Date(), nullable=True),
        sa.Column("posted_hours", amount(precision=20, scale=6), nullable=False),
        sa.Column("posted_drawn_hours", amount(precision=20, scale=6), nullable=False),
        sa.Column("posted_amount", amount(precision=20, scale=6), nullable=False),
        sa.Column("recorded_at", when(timezone=True), nullable=False),
        sa.Column("updated_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_entries")),
        sa.UniqueConstraint("source", "external_id", name="uq_time_entries_source_external"),
    )
    op.create_index("ix_time_entries_project_date", "time_entries", ["project_id", "work_date"])
    op.create_table(
        "expenses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("person", sa.String(length=330), nullable=False),
        sa.Column("spent_on", sa.Date(), nullable=False),
        sa.Column("amount", amount(precision=20, scale=6), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("receipt_ref", sa.String(length=500), nullable=False),
        sa.Column("tax_category", sa.String(length=40), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("source_updated_at", when(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=330), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("posted_revision", sa.Integer(), nullable=False),
        sa.Column("posted_month", sa.Date(), nullable=True),
        sa.Column("posted_tax_category", sa.String(length=40), nullable=False),
        sa.Column("posted_amount", amount(precision=20, scale=6), nullable=False),
        sa.Column("recorded_at", when(timezone=True), nullable=False),
        sa.Column("updated_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expenses")),
        sa.UniqueConstraint("source", "external_id", name="uq_expenses_source_external"),
    )
    op.create_index("ix_expenses_project_date", "expenses", ["project_id", "spent_on"])
    op.create_table(
        "delivery_postings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=200), nullable=False),
        sa.Column("posting", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=200), nullable=False),
        sa.Column("line_key", sa.String(length=100), nullable=False),
        sa.Column("period_key", sa.String(length=200), nullable=False),
        sa.Column("hours", amount(precision=20, scale=6), nullable=False),
        sa.Column("amount", amount(precision=20, scale=6), nullable=False),
        sa.Column("posted_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_postings")),
        sa.UniqueConstraint(
            "kind",
            "entry_id",
            "revision",
            "line_key",
            "period_key",
            name="uq_delivery_postings_entry_revision_item",
        ),
    )
    op.create_index("ix_delivery_postings_project", "delivery_postings", ["project_id", "posting"])
    op.create_table(
        "project_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detail", json, nullable=False),
        sa.Column("raised_at", when(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_alerts")),
        sa.UniqueConstraint("project_id", "kind", "key", name="uq_project_alerts_project_kind_key"),
    )


def downgrade() -> None:
    op.drop_table("project_alerts")
    op.drop_index("ix_delivery_postings_project", table_name="delivery_postings")
    op.drop_table("delivery_postings")
    op.drop_index("ix_expenses_project_date", table_name="expenses")
    op.drop_table("expenses")
    op.drop_index("ix_time_entries_project_date", table_name="time_entries")
    op.drop_table("time_entries")
    op.drop_table("project_external_ids")
    op.drop_index("ix_projects_customer", table_name="projects")
    op.drop_table("projects")
