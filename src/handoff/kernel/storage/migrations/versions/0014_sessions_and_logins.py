"""Sessions kept on the server and login throttling

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

`user_sessions`: one row per browser login, found by the SHA-256 digest of the cookie's secret,
ended by logout, password change and deactivation. `login_throttles`: failed logins per account
and per client address (delays, locks). New tables only: sessions signed before this migration
carried a user id and no session, so they end and people log in once more.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import handoff.kernel.storage.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_why", sa.String(length=16), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_user_sessions_user", ["user_id"], unique=False)
    op.create_table(
        "login_throttles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("locked_until", handoff.kernel.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_throttles")),
        sa.UniqueConstraint("scope", "key", name="uq_login_throttles_scope_key"),
    )
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.create_index("ix_login_throttles_last_attempt", ["last_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.drop_index("ix_login_throttles_last_attempt")
    op.drop_table("login_throttles")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_user_sessions_user")
    op.drop_table("user_sessions")
