"""Bulk intake keeps the customer master's history, on SQLite and PostgreSQL: a ready deal that
changes a customer with versions adds a version (`customer.synced`, by `deal:<id>`), never rewriting
the earlier ones; the same data again adds nothing; a customer without versions gets none."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select

from handoff.context import AppContext
from handoff.customers.service import get_customer, update_customer
from handoff.deals.service.intake import ingest
from handoff.kernel.storage import schema
from tests.builders import event
from tests.conftest import Clock

ACTOR = "user:finance@acme.example"
NEW_EMAIL = "invoices@kestrel.de"


def rows(ctx: AppContext, table: Any, **where: str) -> list[dict[str, Any]]:
    q = select(table)
    for name, value in where.items():
        q = q.where(table.c[name] == value)
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def versions(ctx: AppContext, customer_id: str) -> dict[int, dict[str, Any]]:
    return {r["version"]: r for r in rows(ctx, schema.customer_versions, customer_id=customer_id)}


def test_a_ready_deal_changing_a_versioned_customer_adds_a_version_and_keeps_the_old_ones(
    ctx: AppContext, clock: Clock
) -> None:
    first_day = clock.now.date()
    ingest(ctx, [event("e1", clock.now)])
    update_customer(ctx, "C-1", {"invoice_language": "de"}, actor=ACTOR, reason="invoices in German")
    before = versions(ctx, "C-1")
    assert sorted(before) == [1, 2]

    clock.advance(days=1)
    ingest(ctx, [event("e2", clock.now, billing_email=NEW_EMAIL)])

    after = versions(ctx, "C-1")
    assert sorted(after) == [1, 2, 3]
    for n in (1, 2):
        assert after[n] == before[n]  # history is never rewritten
    new = after[3]
    assert (new["changed_by"], new["valid_from"]) == ("deal:D-1", clock.now.date())
    assert new["content"]["billing_contacts"][0]["email"] == NEW_EMAIL
    assert new["content"]["invoice_language"] == "de"  # what a deal does not carry is kept
    entries = rows(ctx, schema.audit_log, entity_id="C-1", action="customer.synced")
    assert [(e["actor"], e["after"]["version"]) for e in entries] == [("deal:D-1", 3)]
    assert entries[0]["before"]["billing_contacts"][0]["email"] == "ap@kestrel.de"

    earlier = get_customer(ctx, "C-1", first_day)
    assert earlier is not None and earlier.record is not None
    assert earlier.record.billing_email == "ap@kestrel.de"
    today = get_customer(ctx, "C-1")
    assert today is not None and today.record is not None and today.record.billing_email == NEW_EMAIL
    assert rows(ctx, schema.customers, customer_id="C-1")[0]["billing_email"] == NEW_EMAIL

    clock.advance(hours=1)
    ingest(ctx, [event("e3", clock.now, billing_email=NEW_EMAIL)])  # the same deal again
    assert sorted(versions(ctx, "C-1")) == [1, 2, 3]
    assert len(rows(ctx, schema.audit_log, action="customer.synced")) == 1


def test_several_versioned_customers_in_one_batch_each_get_their_version(ctx: AppContext, clock: Clock) -> None:
    ingest(ctx, [event("e1", clock.now), event("e2", clock.now, deal_id="D-2", customer_id="C-2")])
    for cid in ("C-1", "C-2"):
        update_customer(ctx, cid, {"invoice_language": "de"}, actor=ACTOR, reason="invoices in German")
    clock.advance(days=1)
    later = clock.now + timedelta(minutes=1)
    ingest(
        ctx,
        [
            event("e3", clock.now, billing_email="first@kestrel.de"),
            event("e4", later, billing_email=NEW_EMAIL),  # the last version in the batch wins
            event("e5", clock.now, deal_id="D-2", customer_id="C-2", billing_email="ap@two.example"),
        ],
    )
    one, two = versions(ctx, "C-1"), versions(ctx, "C-2")
    assert sorted(one) == [1, 2, 3] and sorted(two) == [1, 2, 3]
    assert one[3]["content"]["billing_contacts"][0]["email"] == NEW_EMAIL
    assert (two[3]["changed_by"], two[3]["content"]["billing_contacts"][0]["email"]) == ("deal:D-2", "ap@two.example")


def test_a_customer_without_versions_gets_none_from_intake(ctx: AppContext, clock: Clock) -> None:
    ingest(ctx, [event("e1", clock.now)])
    clock.advance(days=1)
    ingest(ctx, [event("e2", clock.now, billing_email=NEW_EMAIL)])
    assert versions(ctx, "C-1") == {}
    assert rows(ctx, schema.audit_log, action="customer.synced") == []
    assert rows(ctx, schema.customers, customer_id="C-1")[0]["billing_email"] == NEW_EMAIL  # the row is its record


def test_a_batch_asks_for_versions_once_whatever_its_size(ctx: AppContext, clock: Clock) -> None:
    ingest(ctx, [event(f"e{n}", clock.now, deal_id=f"D-{n}", customer_id=f"C-{n}") for n in range(5)])
    update_customer(ctx, "C-0", {"invoice_language": "de"}, actor=ACTOR, reason="invoices in German")
    clock.advance(days=1)
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "customer_versions" in statement:  # reads (the bulk insert may bypass this hook)
            seen.append(statement)

    sa_event.listen(ctx.engine, "before_cursor_execute", count)
    try:
        ingest(
            ctx,
            [
                event(f"f{n}", clock.now, deal_id=f"D-{n}", customer_id=f"C-{n}", billing_email=NEW_EMAIL)
                for n in range(5)
            ],
        )
    finally:
        sa_event.remove(ctx.engine, "before_cursor_execute", count)
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1
    assert sorted(versions(ctx, "C-0")) == [1, 2, 3]
    assert all(versions(ctx, f"C-{n}") == {} for n in range(1, 5))
