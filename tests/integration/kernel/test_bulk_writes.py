"""The bulk writer stores exactly what SQLAlchemy's own statements store, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.kernel.encoding import to_jsonable
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many, update_many, upsert_many
from handoff.kernel.storage.codec import to_json_fragment
from tests.builders import event

AT = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))


def _outbox_row(key: str, payload: Any) -> dict[str, Any]:
    return {
        "key": key,
        "channel": "email",
        "topic": "task",
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": AT,
        "created_at": AT,
    }


def _stored(engine: Engine, table: str, where: str) -> tuple[Any, ...]:
    """The row as the database holds it (no SQLAlchemy type processing on the way out)."""
    with engine.connect() as conn:
        return tuple(conn.exec_driver_sql(f"SELECT * FROM {table} WHERE {where}").one())


def test_rows_are_stored_exactly_as_sqlalchemy_stores_them(engine: Engine) -> None:
    payload = {"to": ["ap@kestrel.de"], "amount": "12.50", "nested": {"b": 1, "a": [True, None]}}
    with engine.begin() as conn:
        conn.execute(schema.outbox.insert(), _outbox_row("by-sqlalchemy", payload))
        insert_many(conn, schema.outbox, [_outbox_row("by-bulk", payload)])
        insert_many(conn, schema.outbox, [_outbox_row("by-bulk-fragment", to_json_fragment(payload))])
    reference = _stored(engine, "outbox", "key = 'by-sqlalchemy'")
    for key in ("by-bulk", "by-bulk-fragment"):
        stored = _stored(engine, "outbox", f"key = '{key}'")
        assert stored[2:] == reference[2:], key  # all but id and key, byte for byte
    with engine.connect() as conn:
        row = conn.execute(select(schema.outbox).where(schema.outbox.c.key == "by-bulk-fragment")).one()
    assert row.payload == payload
    assert row.next_attempt_at == AT and row.next_attempt_at.tzinfo == UTC


def test_decimals_booleans_and_python_defaults(ctx: AppContext, engine: Engine) -> None:
    ingest(ctx, [event("e1", AT)])
    with engine.begin() as conn:
        order_id = conn.execute(select(schema.orders.c.id)).scalar_one()
        conn.execute(schema.tasks.delete())
        # `note` left out: its Python-side default ("") fills in, as with SQLAlchemy's insert
        insert_many(
            conn,
            schema.tasks,
            [
                {
                    "order_id": order_id,
                    "deal_id": "D-1",
                    "kind": "issue_invoice",
                    "status": "open",
                    "assignee": None,
                    "created_at": AT,
                    "done_at": None,
                }
            ],
        )
        update_many(conn, schema.orders, [{"_id": order_id, "amount": Decimal("0.10"), "had_exception": True}])
    with engine.connect() as conn:
        task = conn.execute(select(schema.tasks)).one()
        order = conn.execute(select(schema.orders.c.amount, schema.orders.c.had_exception)).one()
    assert task.note == "" and task.created_at == AT
    assert order.amount == Decimal("0.10") and order.had_exception is True


def test_conflicts_are_skipped_or_overwrite_only_the_named_columns(engine: Engine) -> None:
    now = datetime(2026, 11, 2, tzinfo=UTC)

    def customer(cid: str, name: str, email: str) -> dict[str, Any]:
        return {
            "customer_id": cid,
            "legal_name": name,
            "country": "DE",
            "vat_id": "",
            "is_business": True,
            "billing_email": email,
            "updated_at": now,
        }

    with engine.begin() as conn:
        insert_many(conn, schema.outbox, [_outbox_row("k1", {"n": 1})])
        insert_many(
            conn, schema.outbox, [_outbox_row("k1", {"n": 2}), _outbox_row("k2", {"n": 3})], ignore_conflicts_on=["key"]
        )
        upsert_many(conn, schema.customers, [customer("C-1", "Old GmbH", "old@x.de")], ["customer_id"], ["legal_name"])
        upsert_many(
            conn,
            schema.customers,
            [customer("C-1", "New GmbH", "new@x.de"), customer("C-2", "Other AG", "o@x.de")],
            ["customer_id"],
            ["legal_name"],
        )
    with engine.connect() as conn:
        payloads = dict(conn.execute(select(schema.outbox.c.key, schema.outbox.c.payload)).all())
        customers = {r.customer_id: r for r in conn.execute(select(schema.customers))}
    assert payloads == {"k1": {"n": 1}, "k2": {"n": 3}}
    assert customers["C-1"].legal_name == "New GmbH" and customers["C-1"].billing_email == "old@x.de"
    assert customers["C-2"].legal_name == "Other AG"


def test_a_row_missing_a_column_of_the_first_is_refused_whole(engine: Engine) -> None:
    incomplete = _outbox_row("k2", {})
    del incomplete["topic"]
    with pytest.raises(Exception, match="topic"), engine.begin() as conn:
        insert_many(conn, schema.outbox, [_outbox_row("k1", {}), incomplete])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 0


def test_json_fragments_serialise_like_the_documents_they_stand_for() -> None:
    value = {"b": Decimal("1.10"), "a": [{"y": 2, "x": None}], 3: "three"}
    assert orjson.loads(orjson.dumps(to_json_fragment(value))) == to_jsonable(value)
    sorted_bytes = orjson.dumps(to_json_fragment(value, sort_keys=True))
    assert sorted_bytes == orjson.dumps(to_jsonable(value), option=orjson.OPT_SORT_KEYS)
    flat = {"state": "ready", "amount": "1.00", "n": 3, "ok": True, "gone": None}
    copied = to_jsonable(flat)
    assert copied == flat and copied is not flat


def test_a_duplicate_key_raises_sqlalchemys_integrity_error_on_both_engines(engine: Engine) -> None:
    """Callers tell a lost race (a unique key written meanwhile) by one exception type, whichever
    engine: the SQLite fast path raises SQLAlchemy's IntegrityError too, not the driver's."""
    with engine.begin() as conn:
        insert_many(conn, schema.outbox, [_outbox_row("dup-1", {"n": 1})])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        insert_many(conn, schema.outbox, [_outbox_row("dup-1", {"n": 2})])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox WHERE key = 'dup-1'")).scalar_one() == 1
