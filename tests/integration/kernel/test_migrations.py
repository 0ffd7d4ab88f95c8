"""Migrations on both engines: the chain builds exactly the schema the code declares, goes down to
nothing and up again, and 0006 and 0009 fill their new columns from the data already there."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from handoff.kernel.storage import schema
from handoff.kernel.storage.db import alembic_config, make_engine, upgrade

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def schema_drift(engine: Engine) -> list[object]:
    """Differences between the migrated database and `schema.metadata`, as Alembic sees them.
    The PostgreSQL trigram indexes (`*_trgm`) exist only in the migration: SQLite has no such index."""

    def declared(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        return not (type_ == "index" and (name or "").endswith("_trgm"))

    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"include_object": declared}), schema.metadata)


def test_down_to_nothing_and_up_again_gives_the_declared_schema(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    assert schema_drift(empty_engine) == []
    command.downgrade(alembic_config(empty_engine), "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_engine)
    assert schema_drift(empty_engine) == []
    indexes = {i["name"] for i in inspect(empty_engine).get_indexes("orders")}
    trigram = {"ix_orders_deal_trgm", "ix_orders_customer_trgm", "ix_orders_owner_trgm"}
    assert trigram <= indexes if empty_engine.dialect.name == "postgresql" else not trigram & indexes


def test_0006_backfills_flags_reasons_and_lower_case_owners(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0005")
    o, ex, inbox = schema.orders, schema.exceptions, schema.inbox
    common = {
        "source": "crm",
        "version_at": AT,
        "data": {"deal_name": "x"},
        "customer_id": "C-1",
        "customer_name": "Kestrel",
        "legal_entity": "ACME-DE",
        "amount": Decimal("10.00"),
        "currency": "EUR",
        "received_at": AT,
        "updated_at": AT,
    }
    with empty_engine.begin() as conn:
        for deal_id, owner, state in (
            ("D-ex", "Anna@ACME.example", "blocked"),
            ("D-edit", "bo@acme.example", "sent"),
            ("D-clean", "bo@acme.example", "sent"),
        ):
            conn.execute(
                o.insert().values(deal_id=deal_id, owner_email=owner, state=state, version_event=deal_id, **common)
            )
        order_id = conn.execute(select(o.c.id).where(o.c.deal_id == "D-ex")).scalar_one()
        conn.execute(
            ex.insert().values(
                order_id=order_id,
                deal_id="D-ex",
                owner="Anna@ACME.example",
                status="open",
                opened_at=AT,
                updated_at=AT,
                problems=[
                    {"code": "missing", "field": "po_number", "message": "po_number is missing"},
                    {"code": "invalid", "field": "vat_id", "message": "vat_id is invalid"},
                ],
            )
        )
        for source, deal_id in (("user:bo@acme.example", "D-edit"), ("crm", "D-clean")):
            conn.execute(
                inbox.insert().values(
                    source=source,
                    event_id=f"{deal_id}-1",
                    deal_id=deal_id,
                    occurred_at=AT,
                    received_at=AT,
                    payload={},
                    status="applied",
                )
            )
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        rows = {
            r.deal_id: r
            for r in conn.execute(select(o.c.deal_id, o.c.owner_email, o.c.had_exception, o.c.touched_by_person))
        }
        exception = conn.execute(select(ex.c.owner, ex.c.reasons)).one()
    assert rows["D-ex"].owner_email == "anna@acme.example" and exception.owner == "anna@acme.example"
    assert [(d, bool(r.had_exception), bool(r.touched_by_person)) for d, r in sorted(rows.items())] == [
        ("D-clean", False, False),
        ("D-edit", False, True),
        ("D-ex", True, False),
    ]
    assert exception.reasons == "|invalid|missing|po_number|vat_id|"


def test_0009_measures_invoiced_orders_again_from_their_close_date(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0008")
    o = schema.orders
    received, invoiced = datetime(2026, 10, 30, 9, 0, tzinfo=UTC), datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with empty_engine.begin() as conn:
        for deal_id, close_date, invoiced_at in (
            ("D-closed", "2026-10-23", invoiced),
            ("D-future", "2026-11-20", invoiced),
            ("D-none", "", invoiced),
            ("D-unreadable", "soon", invoiced),
            ("D-open", "2026-10-23", None),
        ):
            conn.execute(
                o.insert().values(
                    deal_id=deal_id,
                    source="crm",
                    state="sent" if invoiced_at else "ready",
                    version_at=received,
                    version_event=deal_id,
                    data={"deal_name": "x", "close_date": close_date},
                    customer_id="C-1",
                    customer_name="Kestrel",
                    legal_entity="ACME-DE",
                    owner_email="bo@acme.example",
                    currency="EUR",
                    received_at=received,
                    updated_at=received,
                    invoiced_at=invoiced_at,
                    cycle_seconds=3 * 86400 if invoiced_at else None,  # from intake, as 0006 to 0008 kept it
                )
            )
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        after = {r.deal_id: (r.cycle_seconds, r.cycle_basis) for r in conn.execute(select(o))}
    assert after == {
        "D-closed": (10 * 86400 + 9 * 3600, "close_date"),
        "D-future": (0, "close_date"),
        "D-none": (3 * 86400, "intake"),
        "D-unreadable": (3 * 86400, "intake"),
        "D-open": (None, None),
    }
    command.downgrade(alembic_config(empty_engine), "0008")
    with empty_engine.connect() as conn:
        seconds = dict(conn.execute(text("SELECT deal_id, cycle_seconds FROM orders")).all())
    assert seconds == {
        "D-closed": 3 * 86400,
        "D-future": 3 * 86400,
        "D-none": 3 * 86400,
        "D-unreadable": 3 * 86400,
        "D-open": None,
    }


def test_a_new_sqlite_file_has_16_kib_pages_in_wal_mode_and_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    def pragmas(path: Path) -> tuple[int, str]:
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        with engine.connect() as conn:
            size = conn.execute(text("PRAGMA page_size")).scalar_one()
            mode = conn.execute(text("PRAGMA journal_mode")).scalar_one()
        engine.dispose()
        return size, mode

    assert pragmas(tmp_path / "new.db") == (16384, "wal")
    old = tmp_path / "old.db"
    sqlite3.connect(old).execute("CREATE TABLE t (x)").connection.close()  # created with the default 4 KiB pages
    assert pragmas(old) == (4096, "wal")
