"""Rating usage on SQLite and PostgreSQL: a month's aggregates become contract schedule items (one
per metric and group, with the note naming the aggregate) that the billing run invoices; rating twice
rates nothing; a minimum commitment is trued up and prepaid credits are drawn down; a max reversed is
recomputed from its aggregate's events; the current month so far is shown per subscription."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from handoff.context import AppContext
from handoff.contracts.service.billing_run import run_billing
from handoff.invoicing.domain.invoices import Invoice, invoice_from_json
from handoff.kernel.storage import schema
from handoff.usage.service.ingest import record_usage
from handoff.usage.service.metrics import define_metric, set_price
from handoff.usage.service.queries import current_usage
from handoff.usage.service.rating import rate_usage
from tests.builders import line
from tests.conftest import Clock
from tests.integration.usage.usage_setup import ACTOR, api_calls, call, usage_contract

NOV = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def invoice(ctx: AppContext, invoice_id: int) -> Invoice:
    with ctx.engine.connect() as conn:
        doc = conn.execute(select(schema.invoices.c.document).where(schema.invoices.c.id == invoice_id))
        return invoice_from_json(doc.scalar_one())


def usage_lines(inv: Invoice) -> list[tuple[Decimal, Decimal, Decimal, str]]:
    return sorted((ln.quantity, ln.unit_price, ln.net_amount, ln.note) for ln in inv.lines if ln.contract_line == "L2")


def test_a_month_is_rated_into_the_schedule_and_invoiced_one_line_per_metric_and_group(
    ctx: AppContext, clock: Clock
) -> None:
    usage_contract(ctx)
    api_calls(ctx, group_by=["region"])
    set_price(ctx, "D-1", "L2", {"model": "per_unit", "unit_price": "0.50"}, ACTOR)
    events = [call(f"e{i}", NOV + timedelta(minutes=i), properties={"region": "eu"}) for i in range(3)]
    events += [call(f"u{i}", NOV + timedelta(minutes=i), properties={"region": "us"}) for i in range(2)]
    assert len(record_usage(ctx, events, ACTOR).accepted) == 5

    clock.now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert rate_usage(ctx, date(2026, 12, 3)).items == 0  # November's grace runs until 2026-12-04
    clock.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    rated = rate_usage(ctx, date(2026, 12, 4))
    assert rated.last_period == "2026-11" and rated.failures == []
    assert rated.amount == Decimal("2.50")
    assert sorted(rated.contracts[0].period_keys) == ["usage:api_calls:eu:2026-11", "usage:api_calls:us:2026-11"]
    assert rate_usage(ctx, date(2026, 12, 4)).items == 0  # rated once

    billed = run_billing(ctx, date(2026, 12, 4))
    [inv] = [invoice(ctx, i) for i in billed.invoice_ids]
    lines = usage_lines(inv)
    assert [(q, p, a) for q, p, a, _ in lines] == [
        (Decimal(2), Decimal("0.50"), Decimal("1.00")),
        (Decimal(3), Decimal("0.50"), Decimal("1.50")),
    ]
    assert lines[1][3].startswith("metric api_calls: 3 events, aggregate 2026-11 (id ")
    usage = [ln for ln in inv.lines if ln.contract_line == "L2"]
    assert {(ln.period_start, ln.period_end) for ln in usage} == {(date(2026, 11, 1), date(2026, 11, 30))}
    assert {ln.description.split(":")[0] for ln in usage} == {
        "API calls, 2026-11 (region eu)",
        "API calls, 2026-11 (region us)",
    }
    assert run_billing(ctx, date(2026, 12, 4)).invoice_ids == []


def test_a_minimum_commitment_is_trued_up_and_prepaid_credits_are_drawn_down(ctx: AppContext, clock: Clock) -> None:
    usage_contract(ctx, close_date="2026-11-01")
    api_calls(ctx)
    price = {"model": "per_unit", "unit_price": "0.50", "minimum": "10.00", "prepaid": "12.00"}
    set_price(ctx, "D-1", "L2", price, ACTOR)
    record_usage(ctx, [call(f"e{i}", NOV + timedelta(minutes=i)) for i in range(4)], ACTOR)

    clock.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    november = rate_usage(ctx, date(2026, 12, 4))
    # 4 x 0.50 = 2.00, true-up to the minimum 8.00, 10.00 drawn from the 12.00 prepaid: nothing due
    assert sorted(november.contracts[0].period_keys) == [
        "usage-minimum:api_calls:2026-11",
        "usage-prepaid:api_calls:2026-11",
        "usage:api_calls:2026-11",
    ]
    assert november.amount == Decimal("0.00")

    clock.now = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    december = rate_usage(ctx, date(2027, 1, 4))  # no event at all in December: the minimum all the same
    assert december.amount == Decimal("8.00")  # 10.00 minimum less the 2.00 of credits left
    with ctx.engine.connect() as conn:
        k = schema.usage_credits
        moves = conn.execute(select(k.c.period, k.c.drawn, k.c.balance).order_by(k.c.id)).all()
    assert [(p, Decimal(d), Decimal(b)) for p, d, b in moves] == [
        ("2026-11", Decimal("10.00"), Decimal("2.00")),
        ("2026-12", Decimal("2.00"), Decimal("0.00")),
    ]

    billed = run_billing(ctx, date(2027, 1, 4))
    amounts = sorted(
        (ln.quantity, ln.unit_price, ln.net_amount)
        for i in billed.invoice_ids
        for ln in invoice(ctx, i).lines
        if ln.contract_line == "L2"
    )
    assert amounts == [
        (Decimal(-1), Decimal("2.00"), Decimal("-2.00")),
        (Decimal(-1), Decimal("10.00"), Decimal("-10.00")),
        (Decimal(1), Decimal("8.00"), Decimal("8.00")),
        (Decimal(1), Decimal("10.00"), Decimal("10.00")),
        (Decimal(4), Decimal("0.50"), Decimal("2.00")),
    ]


def test_a_reversed_maximum_is_recomputed_from_its_aggregate_and_unique_values_counted_once(
    ctx: AppContext, clock: Clock
) -> None:
    usage_contract(
        ctx,
        lines=[
            line("Seats", "1", "2.00", billing="usage", product="seats"),
            line("Active users", "1", "1.00", billing="usage", product="users"),
        ],
    )
    define_metric(ctx, {"code": "seats", "aggregation": "max", "field": "n"}, ACTOR)
    define_metric(ctx, {"code": "users", "aggregation": "unique_count", "field": "user"}, ACTOR)
    seats = [call(f"s{n}", NOV, metric="seats", properties={"n": n}) for n in ("5", "9", "7")]
    users = [call(f"u{i}", NOV, metric="users", properties={"user": u}) for i, u in enumerate(["ana", "bo", "ana"])]
    assert len(record_usage(ctx, seats + users, ACTOR).accepted) == 6
    reversals = [call("r1", NOV, metric="seats", reverses="s9"), call("r2", NOV, metric="users", reverses="u1")]
    assert record_usage(ctx, reversals, ACTOR).accepted == [0, 1]

    now = current_usage(ctx, contract_id="D-1")
    assert {(u.metric, u.quantity, u.amount) for u in now} == {
        ("api_calls", Decimal(0), Decimal(0)),
        ("seats", Decimal(7), Decimal("14.00")),
        ("users", Decimal(1), Decimal("1.00")),  # bo reversed; ana twice counts once
    }

    clock.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    rated = rate_usage(ctx, date(2026, 12, 4))
    assert rated.amount == Decimal("15.00")


def test_current_usage_shows_the_month_so_far_per_subscription(ctx: AppContext, clock: Clock) -> None:
    usage_contract(ctx)
    usage_contract(ctx, deal_id="D-2", customer_id="C-2")
    api_calls(ctx)
    set_price(
        ctx,
        "D-1",
        "L2",
        {"model": "graduated", "tiers": [{"up_to": "2", "unit_price": "1.00"}, {"unit_price": "0.10"}]},
        ACTOR,
    )
    record_usage(ctx, [call(f"e{i}", NOV + timedelta(minutes=i)) for i in range(5)], ACTOR)
    record_usage(ctx, [call("x1", NOV, subscription="D-2")], ACTOR)

    [mine] = current_usage(ctx, customer_id="C-1")
    assert (mine.contract_id, mine.line_key, mine.period, mine.currency) == ("D-1", "L2", "2026-11", "EUR")
    assert (mine.quantity, mine.events, mine.amount, mine.price_model) == (Decimal(5), 5, Decimal("2.30"), "graduated")
    assert [u.contract_id for u in current_usage(ctx)] == ["D-1", "D-2"]
    assert current_usage(ctx, customer_id="C-1", on=date(2026, 12, 1))[0].events == 0
