"""Dashboard metrics and list filters, computed in SQL, agree on SQLite and PostgreSQL with what
the flow did: state counts, exception rate and aging, cycle time over the window, automation rate
(a person's edit or an exception makes a deal not automated), overdue amounts per currency."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service import queries as deal_queries
from handoff.deals.service.intake import ingest
from handoff.deals.service.orders import update_fields
from handoff.invoicing.service.issuing import issue_all_drafts, issue_draft
from handoff.kernel.storage import paging, schema
from handoff.reporting.service import metrics
from tests.builders import OREGON, event, owner_user
from tests.conftest import Clock

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def undated(event_id: str, at: datetime, **changes: Any) -> DealEvent:
    """A deal event without a close date."""
    return event(event_id, at, close_date="", **changes)


def build_history(ctx: AppContext, clock: Clock) -> None:
    """Seven won deals and one still in the pipeline:
    - D-old: invoiced in July, outside the 90-day window by November;
    - D-1..D-3: clean, invoiced after 1, 2 and 4 days;
    - D-fix: blocked (no PO), fixed by its owner, invoiced 10 days after it arrived;
    - D-usd: clean USD deal, invoiced after 1 day;
    - D-open1, D-open2: still blocked, for 5 and 40 days;
    - D-pipe: not won yet.
    The deals carry no close date, so their cycles run from intake (test_cycle_time.py covers close dates)."""
    clock.now = T0
    ingest(ctx, [undated("old", clock.now, deal_id="D-old")])
    issue_all_drafts(ctx, "finance@test", on=clock.now.date())
    clock.now = datetime(2026, 9, 23, 9, 0, tzinfo=UTC)
    owner_user(ctx, "bea@acme.example")
    ingest(ctx, [undated("open2", clock.now, deal_id="D-open2", po_number="", owner_email="Bea@Acme.example")])
    clock.now = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
    ingest(
        ctx,
        [
            undated("e1", clock.now, deal_id="D-1"),
            undated("e2", clock.now, deal_id="D-2"),
            undated("e3", clock.now, deal_id="D-3"),
            undated("fix", clock.now, deal_id="D-fix", po_number=""),
            undated(
                "usd",
                clock.now,
                deal_id="D-usd",
                country="US",
                vat_id="",
                legal_entity="ACME-US",
                currency="USD",
                **OREGON,
            ),
            undated("pipe", clock.now, deal_id="D-pipe", stage="negotiation"),
        ],
    )
    for days, deals in ((1, ("D-1", "D-usd")), (2, ("D-2",)), (4, ("D-3",)), (10, ("D-fix",))):
        clock.now = datetime(2026, 10, 20 + days, 9, 0, tzinfo=UTC)
        if "D-fix" in deals:
            update_fields(ctx, "D-fix", {"po_number": "PO-77"}, "anna@acme.example")
        _issue_only(ctx, deals)
    clock.now = datetime(2026, 10, 28, 9, 0, tzinfo=UTC)
    ingest(ctx, [undated("open1", clock.now, deal_id="D-open1", vat_id="DE000000000")])
    clock.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _issue_only(ctx: AppContext, deal_ids: tuple[str, ...]) -> None:
    """Issue the drafts of these deals (others wait for their day)."""
    inv, io, o = schema.invoices, schema.invoice_orders, schema.orders
    with ctx.engine.connect() as conn:
        ids = (
            conn.execute(
                select(inv.c.id)
                .join(io, io.c.invoice_id == inv.c.id)
                .join(o, o.c.id == io.c.order_id)
                .where(inv.c.status == "draft", o.c.deal_id.in_(deal_ids))
            )
            .scalars()
            .all()
        )
    for invoice_id in ids:
        issue_draft(ctx, invoice_id, "finance@test")


def test_metrics_follow_the_flow(ctx: AppContext, clock: Clock) -> None:
    build_history(ctx, clock)
    m = metrics.compute(ctx)
    assert m.deals_by_state["pipeline"] == 1 and m.deals_by_state["blocked"] == 2
    assert m.deals_by_state["sent"] == 6 and m.won_deals == 8
    # D-fix, D-open1, D-open2 ever had an exception: 3 of 8 won deals
    assert (m.deals_with_exceptions, m.exception_rate) == (3, 0.375)
    assert m.open_exceptions == 2
    assert m.exception_aging == {"0-2 days": 0, "3-7 days": 1, "8-30 days": 0, "over 30 days": 1}  # 5 and 40 days
    # window: invoiced since 2026-08-04, so D-old is left out; cycles 1, 1, 2, 4, 10 days
    assert m.window_days == 90 and m.invoiced_deals == 5
    assert m.cycle_time_days_median == 2.0 and m.cycle_time_days_p90 == 7.6  # interpolated: 4 + 0.6 * (10 - 4)
    assert m.cycle_time_buckets == {
        "under 1 day": 0,
        "1-3 days": 3,
        "3-7 days": 1,
        "7-14 days": 1,
        "14-30 days": 0,
        "over 30 days": 0,
    }
    assert m.automation_rate == 0.8  # D-fix needed a person
    # the July invoice (net30) is overdue; the October ones are due in late November
    assert m.overdue_invoices == 1 and m.overdue_by_currency == {"EUR": Decimal("14280.00")}


def test_overdue_sums_per_currency_and_ignores_paid(ctx: AppContext, clock: Clock) -> None:
    clock.now = T0
    ingest(
        ctx,
        [
            event("a", T0, deal_id="A", amount="100.00"),
            event("b", T0, deal_id="B", amount="0.10"),
            event(
                "u",
                T0,
                deal_id="U",
                country="US",
                vat_id="",
                legal_entity="ACME-US",
                currency="USD",
                amount="33.33",
                **OREGON,  # no sales tax there: the gross is the net
            ),
        ],
    )
    issue_all_drafts(ctx, "finance@test", on=date(2026, 7, 1))
    clock.now = datetime(2026, 11, 2, tzinfo=UTC)
    m = metrics.compute(ctx)
    assert m.overdue_invoices == 3
    assert m.overdue_by_currency == {"EUR": Decimal("119.12"), "USD": Decimal("33.33")}


def test_lists_filter_by_owner_reason_and_age(ctx: AppContext, clock: Clock) -> None:
    build_history(ctx, clock)
    # owners are matched whatever their case
    page = deal_queries.list_exceptions(ctx, owner="BEA@acme.example")
    assert [r["deal_id"] for r in page.items] == ["D-open2"] and page.total_label == "1"
    assert [r["deal_id"] for r in deal_queries.list_exceptions(ctx, reason="po_number").items] == ["D-open2"]
    assert [r["deal_id"] for r in deal_queries.list_exceptions(ctx, reason="invalid").items] == ["D-open1"]
    assert deal_queries.list_exceptions(ctx, reason="po").total == 0  # a whole field or code, not a fragment
    assert [r["deal_id"] for r in deal_queries.list_exceptions(ctx, min_age_days=30).items] == ["D-open2"]
    assert [r["deal_id"] for r in deal_queries.list_exceptions(ctx, max_age_days=7).items] == ["D-open1"]
    assert deal_queries.list_orders(ctx, owner="bea@ACME.example").total == 1
    newest = deal_queries.list_orders(ctx, limit=3)
    assert newest.total == 9 and not newest.total_capped
    assert [r["deal_id"] for r in newest.items] == ["D-open1", "D-pipe", "D-usd"]


def test_totals_are_capped(ctx: AppContext, clock: Clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(paging, "COUNT_CAP", 3)
    ingest(ctx, [event(f"e{i}", clock.now, deal_id=f"D-{i}") for i in range(5)])
    page = deal_queries.list_orders(ctx, limit=2)
    assert (page.total, page.total_capped, page.total_label, len(page.items)) == (3, True, "3+", 2)
    assert deal_queries.list_orders(ctx, limit=2, offset=4).items[0]["deal_id"] == "D-0"


def test_state_counts_survive_compaction_and_match_the_orders(ctx: AppContext, clock: Clock) -> None:
    build_history(ctx, clock)
    with ctx.engine.connect() as conn:
        actual = dict(conn.execute(select(schema.orders.c.state, func.count()).group_by(schema.orders.c.state)).all())
        deltas = conn.execute(select(func.count()).select_from(schema.order_state_counts)).scalar_one()
    before = metrics.compute(ctx)
    assert {s: n for s, n in before.deals_by_state.items() if n} == actual
    assert metrics.compact_state_counts(ctx) == deltas > 10
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(
                schema.order_state_counts.c.state,
                schema.order_state_counts.c.had_exception,
                schema.order_state_counts.c.n,
            )
        ).all()
    assert len(rows) == len({(r.state, r.had_exception) for r in rows}) < deltas  # one row per pair
    after = metrics.compute(ctx)
    assert (after.deals_by_state, after.deals_with_exceptions) == (before.deals_by_state, before.deals_with_exceptions)
    ingest(ctx, [event("late", clock.now, deal_id="D-late", po_number="")])  # counted on top of the folded rows
    assert metrics.compute(ctx).deals_by_state["blocked"] == before.deals_by_state["blocked"] + 1
