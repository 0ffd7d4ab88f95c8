"""Tax determination: `distance_sales_totals`, the EU distance-sales running total per entity and year

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

Whether a sale of goods or digital services to a consumer in another member state is taxed at
origin or destination depends on the seller's total of such sales this calendar year and last
(EUR 10,000, Art. 59c Directive 2006/112/EC). The total is kept per selling entity and year, net in
EUR, and changed in the issuing transaction. The table is filled from the invoices already issued
(credit notes subtract, in the year of the invoice they correct), read in Python on both engines
by the rule below (a copy: a migration must not change with the code). A sale in another currency
counts at the rate its document states (BT-6 / the rate to the EUR accounting currency, or the rate
its evidence recorded); one without any is left out, and the entity's `earlier_sales_eur` setting
can add it. Only a new table, so it re-links cleanly after migrations of other branches.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

from handoff.kernel.storage.types import Amount, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BATCH = 2_000
CENT = Decimal("0.01")


def _is_distance_line(tax: dict[str, Any]) -> bool:
    evidence = tax.get("evidence") or {}
    if evidence.get("distance_sale") == "true":
        return True
    return str(tax.get("rule", "")).startswith("eu_b2c_") and evidence.get("supply") in ("goods", "digital")


def _eur_rate(doc: dict[str, Any], lines: list[dict[str, Any]]) -> Decimal | None:
    if doc.get("currency") == "EUR":
        return Decimal(1)
    if doc.get("tax_currency") == "EUR" and doc.get("exchange_rate"):
        return Decimal(str(doc["exchange_rate"]))
    recorded = {(ln["tax"].get("evidence") or {}).get("eur_rate") for ln in lines} - {None, ""}
    return Decimal(str(recorded.pop())) if len(recorded) == 1 else None


def _year(doc: dict[str, Any], issue_date: date | None) -> int | None:
    if doc.get("kind") == "credit_note" and doc.get("corrects_issue_date"):
        return date.fromisoformat(str(doc["corrects_issue_date"])).year
    return issue_date.year if issue_date is not None else None


def counted(doc: dict[str, Any], issue_date: date | None) -> tuple[int, Decimal] | None:
    """(year, signed EUR amount) an issued invoice or credit note adds to its seller's total."""
    lines = [ln for ln in doc.get("lines") or () if _is_distance_line(ln.get("tax") or {})]
    year = _year(doc, issue_date)
    rate = _eur_rate(doc, lines) if lines else None
    if not lines or year is None or rate is None:
        return None
    net = sum((Decimal(str(ln["net_amount"])) for ln in lines), Decimal(0))
    eur = (net * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    return year, -eur if doc.get("kind") == "credit_note" else eur


def upgrade() -> None:
    totals = op.create_table(
        "distance_sales_totals",
        sa.Column("legal_entity", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("total_eur", Amount(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("legal_entity", "year", name=op.f("pk_distance_sales_totals")),
    )
    invoices = sa.table(
        "invoices",
        sa.column("id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("legal_entity", sa.String),
        sa.column("issue_date", sa.Date),
        sa.column("document", sa.JSON),
    )
    issued = (
        sa.select(invoices.c.id, invoices.c.legal_entity, invoices.c.issue_date, invoices.c.document)
        .where(invoices.c.status == "issued")
        .order_by(invoices.c.id)
    )
    conn = op.get_bind()
    found: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    after = 0
    while rows := conn.execute(issued.where(invoices.c.id > after).limit(BATCH)).all():
        for _, entity, issue_date, doc in rows:
            amount = counted(doc, issue_date) if isinstance(doc, dict) else None
            if amount is not None:
                found[(entity, amount[0])] += amount[1]
        after = rows[-1][0]
    now = datetime.now(UTC)
    rows_out = [
        {"legal_entity": entity, "year": year, "total_eur": total, "updated_at": now}
        for (entity, year), total in sorted(found.items())
    ]
    if rows_out:
        op.bulk_insert(totals, rows_out)


def downgrade() -> None:
    op.drop_table("distance_sales_totals")
