"""Credit notes settle the invoice they correct: `invoices.credited_amount`, `credit_allocations`

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

An issued credit note was a document only: the invoice it corrects stayed open and was chased.
Now its credit is allocated (`credit_allocations`): to the invoice it corrects up to what is open
there, the rest staying with the credit note as the customer's credit balance, later applied to
another invoice or refunded. `invoices.credited_amount` is the credit allocated to an invoice, so
its open amount is gross - paid - credited, and a new payment state `credited` says that nothing
is open and credit took part. The open-invoice index now means "unpaid or partial".

Credit notes issued before this migration are settled here the way issuing settles them now, in
the order they were issued (a copy of the rule below: a migration must not change with the code);
the orders of an invoice left with nothing open, and paid in part, move to `paid`, as settlement
moves them. Their
allocations are not pushed to accounting systems (migrations send nothing): allocate them there
by hand where they were not. Only columns, a table and indexes are added (no table rebuild on
SQLite, so the triggers of 0007 on `orders` stay).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from handoff.kernel.storage.types import Amount, UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ACTOR = "migration:0010"
OPEN_BEFORE = "status = 'issued' AND payment_state <> 'paid'"
OPEN_AFTER = "status = 'issued' AND payment_state IN ('unpaid', 'partial')"
CREDIT_NOTES = "kind = 'credit_note' AND status = 'issued'"
ZERO = Decimal("0")

invoices = sa.table(
    "invoices",
    sa.column("id", sa.Integer),
    sa.column("number", sa.String),
    sa.column("kind", sa.String),
    sa.column("status", sa.String),
    sa.column("payment_state", sa.String),
    sa.column("gross_amount", Amount),
    sa.column("paid_amount", Amount),
    sa.column("credited_amount", Amount),
    sa.column("issue_date", sa.Date),
    sa.column("issued_at", UTCDateTime),
    sa.column("document", sa.JSON),
)
allocations = sa.table(
    "credit_allocations",
    sa.column("allocation_key", sa.String),
    sa.column("credit_note_id", sa.Integer),
    sa.column("invoice_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("amount", Amount),
    sa.column("allocated_on", sa.Date),
    sa.column("reference", sa.String),
    sa.column("note", sa.Text),
    sa.column("created_by", sa.String),
    sa.column("created_at", UTCDateTime),
)
orders = sa.table(
    "orders",
    sa.column("id", sa.Integer),
    sa.column("state", sa.String),
    sa.column("updated_at", UTCDateTime),
)
invoice_orders = sa.table("invoice_orders", sa.column("invoice_id", sa.Integer), sa.column("order_id", sa.Integer))


def payment_state(gross: Decimal, paid: Decimal, credited: Decimal) -> str:
    """`handoff.invoicing.domain.invoices.payment_state` when this was written."""
    if paid <= 0 and credited <= 0:
        return "unpaid"
    if paid + credited < gross:
        return "partial" if paid > 0 else "unpaid"
    return "credited" if credited > 0 else "paid"


def _open_index(where: str, include: list[str]) -> None:
    op.drop_index("ix_invoices_open_due", table_name="invoices")
    op.create_index(
        "ix_invoices_open_due",
        "invoices",
        ["currency", "due_date"],
        postgresql_include=include,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def upgrade() -> None:
    op.add_column("invoices", sa.Column("credited_amount", Amount(), server_default="0", nullable=False))
    op.create_table(
        "credit_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allocation_key", sa.String(length=120), nullable=False),
        sa.Column("credit_note_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("allocated_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), server_default="", nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_note_id"], ["invoices.id"], name=op.f("fk_credit_allocations_credit_note_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_credit_allocations_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_allocations")),
        sa.UniqueConstraint("allocation_key", name=op.f("uq_credit_allocations_allocation_key")),
    )
    op.create_index("ix_credit_allocations_credit_note", "credit_allocations", ["credit_note_id"], unique=False)
    op.create_index("ix_credit_allocations_invoice", "credit_allocations", ["invoice_id"], unique=False)
    _open_index(OPEN_AFTER, ["gross_amount", "paid_amount", "credited_amount"])
    op.create_index(
        "ix_invoices_credit_notes",
        "invoices",
        ["customer_id"],
        postgresql_where=sa.text(CREDIT_NOTES),
        sqlite_where=sa.text(CREDIT_NOTES),
    )
    _settle_credited_invoices()


def _settle_credited_invoices() -> None:
    """Each issued credit note, in issue order, settles what is still open on the invoice it corrects."""
    conn = op.get_bind()
    notes = conn.execute(
        sa.select(
            invoices.c.id, invoices.c.gross_amount, invoices.c.issue_date, invoices.c.issued_at, invoices.c.document
        )
        .where(invoices.c.kind == "credit_note", invoices.c.status == "issued")
        .order_by(invoices.c.issued_at, invoices.c.id)
    ).all()
    credited: dict[int, Decimal] = {}
    for note in notes:
        corrects = (note.document or {}).get("corrects")
        target = conn.execute(
            sa.select(invoices.c.id, invoices.c.gross_amount, invoices.c.paid_amount, invoices.c.credited_amount).where(
                invoices.c.number == corrects, invoices.c.kind == "invoice", invoices.c.status == "issued"
            )
        ).one_or_none()
        if target is None:
            continue
        already = credited.get(target.id, target.credited_amount or ZERO)
        amount = max(ZERO, min(note.gross_amount, target.gross_amount - target.paid_amount - already))
        if amount <= 0:
            continue
        credited[target.id] = already + amount
        at: datetime = note.issued_at
        on: date = note.issue_date or at.date()
        conn.execute(
            allocations.insert().values(
                allocation_key=f"corrected:{note.id}",
                credit_note_id=note.id,
                invoice_id=target.id,
                kind="corrected",
                amount=amount,
                allocated_on=on,
                reference="",
                note="settled when credits began to settle invoices",
                created_by=ACTOR,
                created_at=at,
            )
        )
        state = payment_state(target.gross_amount, target.paid_amount, credited[target.id])
        conn.execute(
            invoices.update()
            .where(invoices.c.id == target.id)
            .values(credited_amount=credited[target.id], payment_state=state)
        )
        if state in ("paid", "credited") and target.paid_amount > 0:
            linked = sa.select(invoice_orders.c.order_id).where(invoice_orders.c.invoice_id == target.id)
            conn.execute(
                orders.update()
                .where(orders.c.id.in_(linked), orders.c.state == "sent")
                .values(state="paid", updated_at=at)
            )


def downgrade() -> None:
    conn = op.get_bind()
    credited = conn.execute(
        sa.select(invoices.c.id, invoices.c.gross_amount, invoices.c.paid_amount).where(
            invoices.c.payment_state.in_(["credited", "unpaid", "partial"])
        )
    ).all()
    for r in credited:  # the state as payments alone make it
        state = payment_state(r.gross_amount, r.paid_amount, ZERO)
        conn.execute(invoices.update().where(invoices.c.id == r.id).values(payment_state=state))
    op.drop_index("ix_invoices_credit_notes", table_name="invoices")
    _open_index(OPEN_BEFORE, ["gross_amount", "paid_amount"])
    op.drop_index("ix_credit_allocations_invoice", table_name="credit_allocations")
    op.drop_index("ix_credit_allocations_credit_note", table_name="credit_allocations")
    op.drop_table("credit_allocations")
    op.drop_column("invoices", "credited_amount")
