"""Migration 0012 on both engines: `distance_sales_totals` is filled from the invoices already issued
(EU distance sales of goods and digital services, net in EUR; credit notes subtract in the year of
the invoice they correct), and goes away on downgrade."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, inspect

from handoff.kernel.storage.db import alembic_config, upgrade
from handoff.kernel.storage.types import Amount, Json, UTCDateTime

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
# the invoices table as migration 0011 leaves it (the columns written here)
INVOICES = sa.table(
    "invoices",
    sa.column("draft_key", sa.String),
    sa.column("number", sa.String),
    sa.column("kind", sa.String),
    sa.column("status", sa.String),
    sa.column("payment_state", sa.String),
    sa.column("legal_entity", sa.String),
    sa.column("customer_id", sa.String),
    sa.column("customer_name", sa.String),
    sa.column("currency", sa.String),
    sa.column("net_amount", Amount),
    sa.column("tax_amount", Amount),
    sa.column("gross_amount", Amount),
    sa.column("paid_amount", Amount),
    sa.column("issue_date", sa.Date),
    sa.column("document", Json),
    sa.column("created_at", UTCDateTime),
)


def line(net: str, rule: str, supply: str, **evidence: str) -> dict[str, Any]:
    return {"net_amount": net, "tax": {"rule": rule, "evidence": {"supply": supply, **evidence}}}


def doc(kind: str, currency: str, *lines: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"kind": kind, "currency": currency, "lines": list(lines), **more}


def test_0012_counts_the_distance_sales_already_issued(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0011")
    goods, services, digital = "goods", "services", "digital"
    origin, destination = "eu_b2c_origin", "eu_b2c_destination"
    rows = [
        # goods to a consumer abroad at origin, and a service (Art. 45: not a distance sale) beside it
        (
            "1",
            "ACME-DE",
            date(2025, 12, 1),
            doc("invoice", "EUR", line("6000.00", origin, goods), line("500.00", origin, services)),
        ),
        # digital services at destination, in USD from the EUR entity: its BT-6 rate to EUR
        (
            "2",
            "ACME-DE",
            date(2026, 1, 5),
            doc("invoice", "USD", line("1000.00", destination, digital), tax_currency="EUR", exchange_rate="0.9"),
        ),
        # a credit note of half of invoice 1, issued in 2026: it reduces 2025
        (
            "3",
            "ACME-DE",
            date(2026, 1, 10),
            doc("credit_note", "EUR", line("3000.00", origin, goods), corrects_issue_date="2025-12-01"),
        ),
        # zero-rated goods count too; a domestic sale, a draft and a reverse charge do not
        (
            "4",
            "ACME-DE",
            date(2026, 2, 1),
            doc("invoice", "EUR", line("100.00", origin + "_zero", goods), line("900.00", "domestic", goods)),
        ),
        ("5", "ACME-DE", None, doc("invoice", "EUR", line("7000.00", origin, goods))),
        ("6", "ACME-DE", date(2026, 2, 2), doc("invoice", "EUR", line("7000.00", "reverse_charge", digital))),
        # another entity keeps its own total; a currency with no rate to EUR is left out
        ("7", "ACME-NL", date(2026, 3, 1), doc("invoice", "EUR", line("50.00", origin, goods))),
        ("8", "ACME-DE", date(2026, 3, 2), doc("invoice", "CHF", line("80.00", origin, goods))),
    ]
    with empty_engine.begin() as conn:
        for key, entity, issued, document in rows:
            status = "draft" if issued is None else "issued"
            conn.execute(
                INVOICES.insert().values(
                    draft_key=f"order:{key}",
                    number=f"N-{key}" if status == "issued" else None,
                    kind=document["kind"],
                    status=status,
                    payment_state="unpaid",
                    legal_entity=entity,
                    customer_id="C-1",
                    customer_name="Camille Martin",
                    currency=document["currency"],
                    net_amount=Decimal(0),
                    tax_amount=Decimal(0),
                    gross_amount=Decimal(0),
                    paid_amount=Decimal(0),
                    issue_date=issued,
                    document=document,
                    created_at=AT,
                )
            )
    upgrade(empty_engine, "0012")
    totals = sa.table(
        "distance_sales_totals", sa.column("legal_entity"), sa.column("year"), sa.column("total_eur", Amount)
    )
    with empty_engine.connect() as conn:
        found = {(r.legal_entity, r.year): r.total_eur for r in conn.execute(sa.select(totals))}
    assert found == {
        ("ACME-DE", 2025): Decimal("3000.00"),  # 6,000 less the 3,000 credited
        ("ACME-DE", 2026): Decimal("1000.00"),  # 900.00 (USD 1,000 x 0.9) + 100.00
        ("ACME-NL", 2026): Decimal("50.00"),
    }
    command.downgrade(alembic_config(empty_engine), "0011")
    assert "distance_sales_totals" not in inspect(empty_engine).get_table_names()
