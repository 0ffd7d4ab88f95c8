"""A version dated in the future, stored before intake refused such times, froze its deal: every
genuine later update was found stale. `repair_future` re-dates it to when it was received
(audited), sends the updates it made stale through again, and the newest genuine version wins; on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from handoff.audit import service as audit
from handoff.context import AppContext
from handoff.deals.service import inbox
from handoff.deals.service.inbox import RepairRefused
from handoff.deals.service.intake import ingest
from handoff.kernel.storage import schema
from tests.builders import event
from tests.conftest import Clock

OPS = "ops@acme.example"
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


def order(ctx: AppContext, deal_id: str = "D-1") -> dict[str, object]:
    o = schema.orders.c
    with ctx.engine.connect() as conn:
        row = conn.execute(select(o.version_at, o.version_event, o.data).where(o.deal_id == deal_id)).one()
    return {"version_at": row.version_at, "version_event": row.version_event, "po": row.data["po_number"]}


def statuses(ctx: AppContext) -> dict[str, str]:
    i = schema.inbox.c
    with ctx.engine.connect() as conn:
        return {r.event_id: r.status for r in conn.execute(select(i.event_id, i.status))}


def test_a_future_dated_version_is_redated_and_later_updates_win(ctx: AppContext, clock: Clock) -> None:
    t0 = clock.now
    ingest(ctx, [event("genuine-1", t0 - timedelta(hours=2), po_number="PO-1")])
    clock.advance(minutes=5)
    poisoned_at = clock.now
    ingest(ctx, [event("poison", FUTURE, po_number="PO-EVIL")])  # stored before the check existed
    clock.advance(minutes=5)
    ingest(ctx, [event("genuine-2", clock.now - timedelta(minutes=1), po_number="PO-2")])
    clock.advance(minutes=5)
    ingest(ctx, [event("genuine-3", clock.now - timedelta(minutes=1), po_number="PO-3")])
    ingest(ctx, [event("older", t0 - timedelta(days=3), po_number="PO-OLD")])
    assert order(ctx)["po"] == "PO-EVIL"
    assert statuses(ctx) == {
        "genuine-1": "applied",
        "poison": "applied",
        "genuine-2": "stale",
        "genuine-3": "stale",
        "older": "stale",
    }

    report = inbox.repair_future(ctx, "D-1", OPS, "sender's clock was wrong")
    assert [(e.event_id, e.before, e.after) for e in report.redated] == [("poison", FUTURE, poisoned_at)]
    assert report.version == (FUTURE, poisoned_at)
    assert sorted(e.event_id for e in report.requeued) == ["genuine-2", "genuine-3"]
    after = order(ctx)
    assert after["po"] == "PO-3" and after["version_event"] == "genuine-3"
    assert statuses(ctx)["genuine-2"] in ("applied", "stale") and statuses(ctx)["older"] == "stale"

    [entry] = [e for e in audit.history(ctx, "order", "D-1") if e["action"] == "inbox.redated"]
    assert entry["actor"] == OPS and entry["reason"] == "sender's clock was wrong"
    assert entry["before"]["version_at"].startswith("2099-01-01")
    assert entry["after"]["requeued"] == sorted(entry["after"]["requeued"]) and len(entry["after"]["requeued"]) == 2

    with pytest.raises(RepairRefused, match="nothing dated ahead"):
        inbox.repair_future(ctx, "D-1", OPS)


def test_a_pending_future_event_is_redated_before_it_is_applied(ctx: AppContext, clock: Clock) -> None:
    from handoff.deals.service.intake import receive

    receive(ctx, [event("poison", FUTURE, deal_id="D-7")])
    report = inbox.repair_future(ctx, "D-7", OPS)
    assert [e.event_id for e in report.redated] == ["poison"] and report.version is None
    assert order(ctx, "D-7")["version_at"] == clock.now


def test_repair_refuses_an_unknown_or_healthy_deal(ctx: AppContext, clock: Clock) -> None:
    with pytest.raises(RepairRefused, match="no deal D-404"):
        inbox.repair_future(ctx, "D-404", OPS)
    ingest(ctx, [event("fine", clock.now)])
    with pytest.raises(RepairRefused, match="nothing dated ahead"):
        inbox.repair_future(ctx, "D-1", OPS)
