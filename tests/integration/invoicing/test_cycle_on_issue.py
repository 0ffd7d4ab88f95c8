"""Issuing an invoice keeps on each order it bills its sales-to-invoice cycle: from the start (UTC) of
the deal's close date where the CRM gives a readable one, else from intake; never negative
(issue 16, item 12)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.invoicing.service.issuing import issue_all_drafts
from handoff.kernel.storage import schema
from tests.builders import event
from tests.conftest import Clock

IMPORTED = datetime(2026, 10, 30, 9, 0, tzinfo=UTC)
INVOICED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HOUR, DAY = 3600, 86400


def test_issuing_keeps_each_orders_cycle_from_its_close_date_else_from_intake(ctx: AppContext, clock: Clock) -> None:
    close_dates = {
        "D-closed": "2026-10-23",  # 10 days before the invoice's day
        "D-same-day": "2026-11-02",  # closed the day it is invoiced: since midnight UTC
        "D-before-intake": "2026-10-30",  # closed the day it was imported
        "D-future": "2026-11-20",  # a close date after the invoice counts 0, never negative
        "D-none": "",  # no close date: from intake
        "D-unreadable": "30/10/2026",  # not a date: from intake
    }
    clock.now = IMPORTED
    ingest(ctx, [event(f"e-{d}", IMPORTED, deal_id=d, close_date=c) for d, c in close_dates.items()])
    clock.now = INVOICED
    issued = issue_all_drafts(ctx, "finance@test", on=INVOICED.date())
    assert len(issued) == len(close_dates)
    o = schema.orders
    with ctx.engine.connect() as conn:
        seconds = dict(conn.execute(select(o.c.deal_id, o.c.cycle_seconds)).all())
    assert seconds == {
        "D-closed": 10 * DAY + 9 * HOUR,
        "D-same-day": 9 * HOUR,
        "D-before-intake": 3 * DAY + 9 * HOUR,
        "D-future": 0,
        "D-none": 3 * DAY,
        "D-unreadable": 3 * DAY,
    }
    with ctx.engine.connect() as conn:
        basis = dict(conn.execute(select(o.c.deal_id, o.c.cycle_basis)).all())
    assert basis == {
        "D-closed": "close_date",
        "D-same-day": "close_date",
        "D-before-intake": "close_date",
        "D-future": "close_date",
        "D-none": "intake",
        "D-unreadable": "intake",
    }
