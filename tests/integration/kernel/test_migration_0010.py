"""Migration 0010 settles invoices already credited: each issued credit note, in issue order,
settles what is open on the invoice it corrects; the rest is the customer's credit balance."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, select

from handoff.invoicing.repository.credits import CreditRepository
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import alembic_config, upgrade
from handoff.kernel.storage.types import Amount, Json, UTCDateTime

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
invoices = sa.table(
    "invoices",
    *(sa.column(c, t) for c, t in (("id", sa.Integer()), ("draft_key", sa.String()), ("number", sa.String()))),
    *(sa.column(c, sa.String()) for c in ("kind", "status", "payment_state", "legal_entity", "customer_id")),
    *(sa.column(c, sa.String()) for c in ("customer_name", "currency")),
    *(sa.column(c, Amount()) for c in ("net_amount", "tax_amount", "gross_amount", "paid_amount")),
    sa.column("issue_date", sa.Date()),
    sa.column("due_date", sa.Date()),
    sa.column("document", Json),
    sa.column("created_at", UTCDateTime()),
    sa.column("issued_at", UTCDateTime()),
)


def _invoice(
    conn: Any, id_: int, number: str, gross: str, paid: str = "0", corrects: str = "", state: str = ""
) -> None:
    kind = "credit_note" if corrects else "invoice"
    paid_amount = Decimal(paid)
    conn.execute(
        invoices.insert().values(
            id=id_,
            draft_key=f"k-{id_}",
            number=number,
            kind=kind,
            status="issued",
            payment_state=state or ("partial" if paid_amount else "unpaid"),
            legal_entity="ACME-DE",
            customer_id="C-1",
            customer_name="Kestrel",
            currency="EUR",
            net_amount=Decimal(gross),
            tax_amount=Decimal("0"),
            gross_amount=Decimal(gross),
            paid_amount=paid_amount,
            issue_date=date(2026, 11, id_),
            due_date=date(2026, 12, id_),
            document={"corrects": corrects} if corrects else {},
            created_at=AT,
            issued_at=AT.replace(day=id_),
        )
    )


def test_0010_settles_invoices_credited_before_it(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0009")
    o = schema.orders
    with empty_engine.begin() as conn:
        _invoice(conn, 1, "INV-1", "12000", paid="6000")  # half paid, then credited in full
        _invoice(conn, 2, "INV-2", "1000")  # credited in part
        _invoice(conn, 3, "INV-3", "500", paid="500", state="paid")  # paid, then credited: all of it is credit
        _invoice(conn, 4, "CRN-1", "12000", corrects="INV-1")
        _invoice(conn, 5, "CRN-2", "300", corrects="INV-2")
        _invoice(conn, 6, "CRN-3", "200", corrects="INV-3")
        _invoice(conn, 7, "CRN-4", "800", corrects="INV-2")  # a second credit: only 700 was still open
        conn.execute(
            o.insert().values(
                id=1,
                deal_id="D-1",
                source="crm",
                state="sent",
                version_at=AT,
                version_event="e",
                data={},
                customer_id="C-1",
                customer_name="Kestrel",
                legal_entity="ACME-DE",
                owner_email="bo@acme.example",
                currency="EUR",
                received_at=AT,
                updated_at=AT,
            )
        )
        conn.execute(schema.invoice_orders.insert().values(invoice_id=1, order_id=1))
    upgrade(empty_engine, "0010")
    with empty_engine.connect() as conn:
        rows = {
            r.number: (r.payment_state, r.paid_amount, r.credited_amount)
            for r in conn.execute(
                select(
                    invoices.c.number,
                    invoices.c.payment_state,
                    invoices.c.paid_amount,
                    sa.column("credited_amount", Amount()),
                )
                .select_from(invoices)
                .where(invoices.c.kind == "invoice")
            )
        }
        allocated = sorted(
            conn.execute(
                sa.text("SELECT allocation_key, credit_note_id, invoice_id, kind FROM credit_allocations")
            ).all()
        )
        order_state = conn.execute(select(o.c.state)).scalar_one()
        balances = CreditRepository(conn).balances()
    assert rows == {
        "INV-1": ("credited", Decimal("6000"), Decimal("6000")),
        "INV-2": ("credited", Decimal("0"), Decimal("1000")),
        "INV-3": ("paid", Decimal("500"), Decimal("0")),
    }
    assert allocated == [
        ("corrected:4", 4, 1, "corrected"),
        ("corrected:5", 5, 2, "corrected"),
        ("corrected:7", 7, 2, "corrected"),
    ]
    assert order_state == "paid"  # nothing open on INV-1, and the customer paid part of it
    [balance] = balances
    assert balance.amount == Decimal("6300")  # 6,000 of CRN-1, 100 of CRN-4, 200 of CRN-3
    assert {(c.number, c.remaining) for c in balance.credit_notes} == {
        ("CRN-1", Decimal("6000")),
        ("CRN-3", Decimal("200")),
        ("CRN-4", Decimal("100")),
    }
    command.downgrade(alembic_config(empty_engine), "0009")
    with empty_engine.connect() as conn:
        states = dict(conn.execute(sa.text("SELECT number, payment_state FROM invoices WHERE kind = 'invoice'")).all())
    assert states == {"INV-1": "partial", "INV-2": "unpaid", "INV-3": "paid"}
