"""Recording usage on SQLite and PostgreSQL: a batch stores its valid events and names each refusal
(index, transaction id, field); a repeat changes nothing, the same id with other content is refused;
a reversal takes its event back; a late event lands in its own month within the grace, after it in
the open month with a note."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.kernel.storage import schema
from handoff.usage.domain.events import UsageEvent
from handoff.usage.service.ingest import record_usage
from handoff.usage.service.metrics import define_metric
from handoff.usage.service.rating import rate_usage
from tests.builders import line
from tests.conftest import Clock
from tests.integration.usage.usage_setup import ACTOR, api_calls, call, usage_contract

NOV = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)  # the clock says 2026-11-02 09:00


def aggregates(ctx: AppContext) -> dict[tuple[str, str, str, str], tuple[int, int, Decimal]]:
    a = schema.usage_aggregates
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(a.c.line_key, a.c.metric, a.c.period, a.c.group_key, a.c.events, a.c.count, a.c.total)
        )
        return {(r[0], r[1], r[2], r[3]): (r[4], r[5], Decimal(r[6]).normalize()) for r in rows}


def stored_events(ctx: AppContext) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.usage_events)).scalar_one())


def storage_contract(ctx: AppContext) -> None:
    usage_contract(ctx, lines=[line("Storage", "1", "0.10", billing="usage", product="storage_gb")])
    api_calls(ctx)
    define_metric(ctx, {"code": "storage_gb", "aggregation": "sum", "field": "gb"}, ACTOR)


def test_a_batch_stores_its_valid_events_and_names_each_refusal(ctx: AppContext, clock: Clock) -> None:
    storage_contract(ctx)
    batch = [
        call("t1", NOV),
        UsageEvent("", "api_calls", NOV, subscription="D-1", row="batch item 2"),
        call("t3", NOV, metric="sms"),
        call("t4", clock.now + timedelta(minutes=10)),  # beyond the 5 minutes' tolerance
        call("t5", NOV, metric="storage_gb", properties={"gb": "abc"}),
        call("t6", NOV, subscription="D-404"),
        call("t7", NOV, metric="storage_gb", properties={"gb": "2.5"}),
        call("t8", datetime(2026, 10, 1, tzinfo=UTC)),  # before the contract's billing start
    ]
    result = record_usage(ctx, batch, ACTOR)

    assert result.accepted == [0, 6]
    refused = {i: (e.field, str(e)) for i, e in result.refused}
    assert {i: f for i, (f, _) in refused.items()} == {
        1: "transaction_id",
        2: "metric",
        3: "timestamp",
        4: "properties.gb",
        5: "subscription",
        7: "timestamp",
    }
    assert "txn t5" in refused[4][1] and "not a number" in refused[4][1]
    assert "D-404" in refused[5][1]
    assert aggregates(ctx) == {
        ("L2", "api_calls", "2026-11", ""): (1, 1, Decimal(1)),
        ("L3", "storage_gb", "2026-11", ""): (1, 1, Decimal("2.5")),
    }
    assert stored_events(ctx) == 2
    log = schema.audit_log
    with ctx.engine.connect() as conn:
        reasons = conn.execute(select(log.c.reason).where(log.c.action == "usage.recorded")).scalars().all()
    assert reasons == ["2 event(s) recorded, 0 duplicate(s), 6 refused"]


def test_a_repeat_changes_nothing_and_the_same_id_with_other_content_is_refused(ctx: AppContext) -> None:
    usage_contract(ctx)
    api_calls(ctx)
    assert record_usage(ctx, [call("t1", NOV), call("t2", NOV)], ACTOR).accepted == [0, 1]

    again = record_usage(ctx, [call("t1", NOV), call("t2", NOV + timedelta(seconds=1)), call("t2", NOV)], ACTOR)
    assert again.accepted == [] and again.duplicates == [0, 2]
    [(index, error)] = again.refused
    assert (index, error.field) == (1, "transaction_id") and "t2" in str(error)
    assert aggregates(ctx) == {("L2", "api_calls", "2026-11", ""): (2, 2, Decimal(2))}
    assert stored_events(ctx) == 2

    inside = record_usage(ctx, [call("t3", NOV), call("t3", NOV)], ACTOR)  # twice in one batch
    assert (inside.accepted, inside.duplicates) == ([0], [1])


def test_a_reversal_takes_its_event_back_once(ctx: AppContext) -> None:
    storage_contract(ctx)
    gb = {"metric": "storage_gb"}
    record_usage(
        ctx, [call("s1", NOV, properties={"gb": "4"}, **gb), call("s2", NOV, properties={"gb": "1.5"}, **gb)], ACTOR
    )
    result = record_usage(
        ctx,
        [
            call("r1", NOV + timedelta(hours=1), reverses="s1", **gb),
            call("r2", NOV + timedelta(hours=1), reverses="s1", **gb),  # s1 is reversed already
            call("r3", NOV + timedelta(hours=1), reverses="nope", **gb),
            call("r4", NOV + timedelta(hours=1), reverses="s2"),  # another metric than s2's
        ],
        ACTOR,
    )
    assert result.accepted == [0]
    assert {i: e.field for i, e in result.refused} == {1: "reverses", 2: "reverses", 3: "reverses"}
    assert "reversed already" in str(result.refused[0][1])
    # events: 3 recorded (two and the reversal); counted: 1; total 1.5
    assert aggregates(ctx)[("L3", "storage_gb", "2026-11", "")] == (3, 1, Decimal("1.5"))
    # an event and its reversal in one batch cancel out too
    record_usage(ctx, [call("s3", NOV, properties={"gb": "7"}, **gb), call("r5", NOV, reverses="s3", **gb)], ACTOR)
    assert aggregates(ctx)[("L3", "storage_gb", "2026-11", "")] == (5, 1, Decimal("1.5"))


def test_a_late_event_lands_in_its_month_within_the_grace_and_in_the_open_month_after_it(
    ctx: AppContext, clock: Clock
) -> None:
    usage_contract(ctx)
    api_calls(ctx)
    clock.now = datetime(2026, 12, 3, 23, 59, tzinfo=UTC)  # November's grace (3 days) ends 2026-12-04 00:00
    within = record_usage(ctx, [call("t1", datetime(2026, 11, 30, 23, 0, tzinfo=UTC))], ACTOR)
    assert within.accepted == [0] and within.notes == {}
    clock.now = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    late = record_usage(ctx, [call("t2", datetime(2026, 11, 30, 23, 30, tzinfo=UTC))], ACTOR)
    assert late.notes == {0: "late: occurred 2026-11-30, billed in 2026-12"}
    assert aggregates(ctx) == {
        ("L2", "api_calls", "2026-11", ""): (1, 1, Decimal(1)),
        ("L2", "api_calls", "2026-12", ""): (1, 1, Decimal(1)),
    }
    with ctx.engine.connect() as conn:
        note = conn.execute(select(schema.usage_events.c.note).where(schema.usage_events.c.transaction_id == "t2"))
        assert note.scalar_one() == "late: occurred 2026-11-30, billed in 2026-12"

    # once November is rated, even an event inside its grace goes to the open month
    clock.now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert rate_usage(ctx, date(2026, 12, 4)).items == 1
    rated = record_usage(ctx, [call("t3", datetime(2026, 11, 29, tzinfo=UTC))], ACTOR)
    assert rated.notes == {0: "late: occurred 2026-11-29, billed in 2026-12"}
    assert aggregates(ctx)[("L2", "api_calls", "2026-12", "")] == (2, 2, Decimal(2))


def test_a_customer_reference_finds_its_one_subscription_with_the_metric(ctx: AppContext) -> None:
    usage_contract(ctx)
    api_calls(ctx)
    result = record_usage(
        ctx,
        [
            UsageEvent("c1", "api_calls", NOV, customer="C-1"),
            UsageEvent("c2", "api_calls", NOV, customer="C-9"),
            UsageEvent("c3", "api_calls", NOV, subscription="D-1:L2"),
            UsageEvent("c4", "api_calls", NOV, subscription="D-1:L1"),
        ],
        ACTOR,
    )
    assert result.accepted == [0, 2]
    assert {i: e.field for i, e in result.refused} == {1: "customer", 3: "subscription"}


def test_the_aggregates_do_not_depend_on_arrival_order_or_batches(ctx: AppContext) -> None:
    usage_contract(ctx)
    usage_contract(ctx, deal_id="D-2", customer_id="C-2")
    define_metric(ctx, {"code": "api_calls", "aggregation": "latest", "field": "n", "group_by": "region"}, ACTOR)
    events = [
        (f"t{i}", NOV + timedelta(minutes=i % 7), {"n": str(i * 3 % 11), "region": "eu" if i % 3 else "us"})
        for i in range(40)
    ]
    for sub, ordered in (("D-1", events), ("D-2", list(reversed(events)))):
        batch = [call(f"{sub}-{txn}", at, subscription=sub, properties=props) for txn, at, props in ordered]
        for start in range(0, 40, 13 if sub == "D-1" else 40):
            assert not record_usage(ctx, batch[start : start + 13 if sub == "D-1" else 40], ACTOR).refused
    a = schema.usage_aggregates
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(a.c.contract_id, a.c.group_key, a.c.events, a.c.total, a.c.maximum, a.c.latest_value)
        ).all()
    by_contract = {
        cid: sorted((g, e, Decimal(t), Decimal(m), Decimal(v)) for c, g, e, t, m, v in rows if c == cid)
        for cid in ("D-1", "D-2")
    }
    assert by_contract["D-1"] == by_contract["D-2"] and len(by_contract["D-1"]) == 2


def test_raw_events_past_the_retention_are_dropped_and_the_aggregates_stay(ctx: AppContext, clock: Clock) -> None:
    from handoff.usage.service.rating import prune_usage_events

    usage_contract(ctx)
    api_calls(ctx)
    record_usage(ctx, [call("t1", NOV), call("t2", NOV)], ACTOR)
    assert prune_usage_events(ctx, date(2028, 12, 31)) == 0  # 25 months: November 2026 is kept until 2028-12
    assert stored_events(ctx) == 2
    dropped = prune_usage_events(ctx, date(2029, 1, 1))
    assert dropped == (1 if ctx.engine.dialect.name == "postgresql" else 2)  # a monthly partition; rows
    assert stored_events(ctx) == 0
    assert aggregates(ctx) == {("L2", "api_calls", "2026-11", ""): (2, 2, Decimal(2))}
    assert record_usage(ctx, [call("t1", NOV)], ACTOR).duplicates == [0]  # the transaction ids stay


def test_metrics_are_seeded_from_the_business_config_until_changed_through_the_api(ctx: AppContext) -> None:
    from dataclasses import replace

    from handoff.usage.service.metrics import list_metrics

    usage = ctx.config.model.usage.model_copy(update={"metrics": [{"code": "api_calls", "aggregation": "count"}]})
    seeded = replace(ctx, config=replace(ctx.config, model=ctx.config.model.model_copy(update={"usage": usage})))
    usage_contract(seeded)
    assert record_usage(seeded, [call("t1", NOV)], ACTOR).accepted == [0]  # the metric came from the config
    [view] = list_metrics(seeded)
    assert (view.metric.code, view.version, view.source) == ("api_calls", 1, "config")
    define_metric(seeded, {"code": "api_calls", "aggregation": "count", "group_by": "region"}, ACTOR)
    [view] = list_metrics(seeded)  # the API's change wins over the file from now on
    assert (view.metric.group_by, view.version, view.source) == (("region",), 2, "api")
