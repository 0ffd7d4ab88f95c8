"""The exception queue's `reasons` (what it filters by) fits its column however many lines of a deal
are in trouble: on PostgreSQL an overlong text was refused and took the whole batch down."""

from __future__ import annotations

from datetime import UTC, datetime

from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service import queries
from handoff.deals.service.intake import ingest
from tests.builders import deal_with_lines, line

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_a_deal_with_hundreds_of_bad_lines_waits_in_the_queue_filterable_by_line_field(ctx: AppContext) -> None:
    lines = [line(f"item {n}", unit_price="n/a") for n in range(150)]
    _, report = ingest(ctx, [DealEvent("crm", "e1", T0, deal_with_lines(lines, deal_id="D-many", po_number=""))])
    assert report.failed == 0
    found = queries.list_exceptions(ctx, reason="lines[].unit_price")
    assert [r["deal_id"] for r in found.items] == ["D-many"]
    assert queries.list_exceptions(ctx, reason="po_number").total == 1
