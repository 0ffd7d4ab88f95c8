"""Migration 0022 on both engines: every order becomes a contract (version 1, one one-time line per
deal line, or one of the deal amount), the orders already invoiced are billed through their invoice
so the billing run never bills them again, and the tables go away on downgrade."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, inspect

from handoff.contracts.domain.model import BillingKind, ContractVersion
from handoff.kernel.encoding import load_json
from handoff.kernel.parties import Customer
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import alembic_config, make_engine, upgrade
from tests.conftest import scratch_pg_database

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NEW_TABLES = {"contracts", "contract_versions", "schedule_items", "billed_items", "milestone_acceptances"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with no tables at all (as tests/integration/kernel/conftest.py's)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    with scratch_pg_database("handoff_migrate") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _order(conn: sa.Connection, deal_id: str, state: str, data: dict[str, object], amount: str | None) -> int:
    o = schema.orders
    conn.execute(
        o.insert().values(
            deal_id=deal_id,
            source="hubspot",
            state=state,
            version_at=AT,
            version_event=f"e-{deal_id}",
            data={"deal_id": deal_id, **data},
            customer_id="CUST-1",
            customer_name="Kestrel GmbH",
            legal_entity="ACME-DE",
            owner_email="rep@acme.example",
            amount=None if amount is None else Decimal(amount),
            currency="EUR",
            received_at=AT,
            updated_at=AT,
            invoiced_at=AT if state in ("sent", "paid") else None,
        )
    )
    return int(conn.execute(sa.select(o.c.id).where(o.c.deal_id == deal_id)).scalar_one())


def _invoice(conn: sa.Connection, order_id: int, key: str, status: str) -> int:
    inv = schema.invoices
    zero = Decimal(0)
    conn.execute(
        inv.insert().values(
            draft_key=key,
            number=None if status == "draft" else f"N-{key}",
            kind="invoice",
            status=status,
            payment_state="unpaid",
            legal_entity="ACME-DE",
            customer_id="CUST-1",
            customer_name="Kestrel GmbH",
            currency="EUR",
            net_amount=zero,
            tax_amount=zero,
            gross_amount=zero,
            paid_amount=zero,
            document={},
            created_at=AT,
        )
    )
    invoice_id = int(conn.execute(sa.select(inv.c.id).where(inv.c.draft_key == key)).scalar_one())
    conn.execute(schema.invoice_orders.insert().values(invoice_id=invoice_id, order_id=order_id))
    return invoice_id


def test_0022_turns_orders_into_contracts_and_back(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0021")
    lines = [
        {"description": "Licences", "quantity": "3", "unit_price": "1000.00", "discount": "10%", "product": "LIC"},
        {"description": "Training", "quantity": "1", "unit_price": "500.00", "supply": "services"},
    ]
    with empty_engine.begin() as conn:
        conn.execute(
            schema.customers.insert().values(
                customer_id="CUST-1",
                legal_name="Kestrel GmbH",
                country="DE",
                vat_id="DE811907980",
                is_business=True,
                billing_email="ap@kestrel.example",
                updated_at=AT,
            )
        )
        sent = _order(conn, "D-sent", "sent", {"deal_name": "Big deal", "lines": lines, "payment_terms": "net30"}, None)
        sent_invoice = _invoice(conn, sent, "order:D-sent", "issued")
        drafted = _order(conn, "D-drafted", "drafted", {"deal_name": "Small deal", "po_number": "PO-1"}, "700.00")
        drafted_invoice = _invoice(conn, drafted, "order:D-drafted", "draft")
        unready = {"deal_name": "Unready", "lines": [{"description": "x", "unit_price": "?"}]}
        _order(conn, "D-blocked", "blocked", unready, None)

    upgrade(empty_engine, "0022")
    c, v, s, b = schema.contracts, schema.contract_versions, schema.schedule_items, schema.billed_items
    with empty_engine.connect() as conn:
        # the columns as 0022 made them (a later migration may add more)
        q = sa.select(c.c.contract_id, c.c.origin, c.c.status, c.c.current_version, c.c.buyer)
        contracts = {r.contract_id: r for r in conn.execute(q)}
        versions = {r.contract_id: r for r in conn.execute(sa.select(v))}
        made = [col for col in s.c if col.key not in ("note", "detail")]  # (0026 added these)
        items = {(r.contract_id, r.line_key): r for r in conn.execute(sa.select(*made))}
        billed = {(r.contract_id, r.line_key): r.invoice_id for r in conn.execute(sa.select(b))}

    assert set(contracts) == {"D-sent", "D-drafted", "D-blocked"}
    assert {(r.origin, r.status, r.current_version) for r in contracts.values()} == {("order", "active", 1)}
    buyer = load_json(Customer, contracts["D-sent"].buyer)
    assert (buyer.customer_id, buyer.legal_name, buyer.country, buyer.vat_id) == (
        "CUST-1",
        "Kestrel GmbH",
        "DE",
        "DE811907980",
    )

    # the stored version reads back through the domain, and its hash is the domain's
    version = ContractVersion.from_json(versions["D-sent"].content)
    assert version.content_hash == versions["D-sent"].content_hash
    assert [(ln.key, ln.rule.kind, ln.quantity, ln.unit_price, ln.discount) for ln in version.lines] == [
        ("L1", BillingKind.ONE_TIME, Decimal(3), Decimal("1000.00"), "10%"),
        ("L2", BillingKind.ONE_TIME, Decimal(1), Decimal("500.00"), ""),
    ]
    assert version.terms.billing_start == date(2026, 11, 1) and version.terms.payment_terms == "net30"
    small = ContractVersion.from_json(versions["D-drafted"].content)
    assert [(ln.key, ln.description, ln.unit_price) for ln in small.lines] == [("L1", "Small deal", Decimal("700.00"))]
    assert small.terms.po_number == "PO-1"

    # invoiced orders: billed through their invoice (a draft too), never again by the billing run
    assert billed == {
        ("D-sent", "L1"): sent_invoice,
        ("D-sent", "L2"): sent_invoice,
        ("D-drafted", "L1"): drafted_invoice,
    }
    assert (items[("D-sent", "L1")].status, items[("D-sent", "L1")].amount) == ("billed", Decimal("2700.00"))
    assert items[("D-sent", "L1")].bill_date == date(2026, 11, 1) and items[("D-sent", "L1")].period_key == "once"
    assert items[("D-blocked", "L1")].status == "intake"  # intake drafts its deal, not the run
    assert items[("D-blocked", "L1")].invoice_id is None

    command.downgrade(alembic_config(empty_engine), "0021")
    assert not NEW_TABLES & set(inspect(empty_engine).get_table_names())
    with empty_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.orders)).scalar_one() == 3
    upgrade(empty_engine, "0022")
    with empty_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(c)).scalar_one() == 3
