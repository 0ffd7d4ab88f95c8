"""The monthly usage rating of many subscriptions: `rate_usage` for a month, then the billing run.

    python bench/bench_usage_rating.py [--subscriptions 10000] [--events 40] [--db sqlite:///path | postgresql+psycopg://...]
                                       [--profile FILE]

Locks S usage contracts (API calls counted, every second contract's priced in graduated tiers, gigabytes transferred
summed per region at a unit price, active users counted once each at a unit price) and records a
month (January 2027) of their usage through `record_usage` (`--events` a subscription, so each has
its five aggregates: not measured). Then times, as the worker does once the month's grace period
has passed, `rate_usage(through=2027-02-04)` (every aggregate priced and added to its contract's
schedule as an item, one transaction a contract) and `run_billing` for the day (one invoice draft a
subscription). Prints subscriptions rated per second and drafts per second, and checks the counts.
With a PostgreSQL URL the benchmark works in a scratch database it creates on that server and drops.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal

from bench_time_import import database  # the script's folder
from bench_usage_ingest import (
    ACTOR,
    AGGREGATES_PER_SUBSCRIPTION,
    define_metrics,
    events,
    seed_contracts,
)
from sqlalchemy import func, select

from handoff.config import load_business_config
from handoff.context import AppContext
from handoff.contracts.service.billing_run import run_billing
from handoff.kernel.audit import AuditKeys
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import make_engine, upgrade
from handoff.usage.domain.pricing import PriceModel, Tier, UsagePrice, price_to_json
from handoff.usage.service.ingest import record_usage
from handoff.usage.service.metrics import set_price
from handoff.usage.service.rating import rate_usage

THROUGH = date(2027, 2, 4)  # January's end + the default grace of 3 days
# API calls: the first 1,000 free, then 0.0010 up to 100,000, then 0.0005
API_PRICE = UsagePrice(
    PriceModel.GRADUATED,
    tiers=(
        Tier(Decimal(1000), Decimal(0)),
        Tier(Decimal(100_000), Decimal("0.0010")),
        Tier(None, Decimal("0.0005")),
    ),
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=40, help="events per subscription in the month")
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", default=None, help="write a cProfile of rating and billing to this file")
    args = parser.parse_args()
    config = load_business_config()
    with tempfile.TemporaryDirectory() as tmp, database(args.db, tmp, "bench_usage_rate") as url:
        engine = make_engine(url)
        upgrade(engine)
        clock = Clock(datetime(2027, 1, 31, 23, 59, 30, tzinfo=UTC))
        ctx = AppContext(engine, config, clock, audit_keys=AuditKeys.generate())  # keyed, as in production
        t = time.perf_counter()
        define_metrics(ctx)
        subscriptions = seed_contracts(ctx, args.subscriptions)
        price = price_to_json(API_PRICE)
        for contract_id in subscriptions[::2]:  # every second one tiered, the others per unit
            set_price(ctx, contract_id, "L1", price, ACTOR)
        total = args.subscriptions * args.events
        for start in range(0, total, 10_000):
            result = record_usage(ctx, events(subscriptions, start, min(10_000, total - start), total), ACTOR)
            assert not result.refused, result.refused[:3]
        with engine.connect() as conn:
            aggregates = conn.execute(select(func.count()).select_from(schema.usage_aggregates)).scalar_one()
        assert aggregates == AGGREGATES_PER_SUBSCRIPTION * len(subscriptions), aggregates
        print(
            f"{len(subscriptions):,} usage contracts locked and priced, {total:,} events recorded "
            f"({aggregates:,} aggregates) in {time.perf_counter() - t:.1f} s"
        )

        clock.now = datetime(2027, 2, 4, 6, 0, tzinfo=UTC)
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        t, cpu = time.perf_counter(), time.process_time()
        rating = rate_usage(ctx, THROUGH, ACTOR)
        rate_s, rate_cpu = time.perf_counter() - t, time.process_time() - cpu
        t, cpu = time.perf_counter(), time.process_time()
        billing = run_billing(ctx, THROUGH, "bench")
        bill_s, bill_cpu = time.perf_counter() - t, time.process_time() - cpu
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        items_c = schema.schedule_items.c
        with engine.connect() as conn:
            items = conn.execute(
                select(func.count()).select_from(schema.schedule_items).where(items_c.trigger == "usage")
            ).scalar_one()
            invoices = conn.execute(select(func.count()).select_from(schema.invoices)).scalar_one()
        assert not billing.failures and not rating.failures, (billing.failures[:3], rating.failures[:3])
        assert len(rating.contracts) == len(subscriptions) and items == rating.items >= aggregates, (items, aggregates)
        assert billing.drafts == invoices == len(subscriptions) and billing.items == items, (billing, invoices)
        print(
            f"rate_usage: {len(subscriptions) / rate_s:,.0f} subscriptions/s ({rate_s:.2f} s, {rate_cpu:.2f} s of "
            f"CPU; {rating.items:,} schedule items, {rating.amount:,.2f} EUR net, from {aggregates:,} aggregates; "
            f"{len(rating.failures)} failed)"
        )
        print(
            f"run_billing: {billing.drafts / bill_s:,.0f} drafts/s ({bill_s:.2f} s, {bill_cpu:.2f} s of CPU; "
            f"{billing.drafts:,} invoices, {billing.items:,} items) on {engine.dialect.name}"
        )
        print(f"month rated and billed: {len(subscriptions) / (rate_s + bill_s):,.0f} subscriptions/s end to end")
        engine.dispose()


if __name__ == "__main__":
    main()
