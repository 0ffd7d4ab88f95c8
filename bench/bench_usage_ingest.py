"""Usage ingest throughput: N metered events stored by `record_usage` in batches, and a repeated batch.

    python bench/bench_usage_ingest.py [--events 10000000] [--batch 10000] [--subscriptions 10000]
                                       [--db sqlite:///path | postgresql+psycopg://...] [--profile FILE]

Locks S usage contracts (three usage lines each: API calls counted, gigabytes transferred summed
per region, active users counted once each) and defines their billable metrics, then generates
the events of January 2027 in memory, batch by batch (as the API hands them over: `UsageEvent`s
with a transaction id, the contract as subscription, text properties; each subscription's events
spread over the month and the three metrics), and times `record_usage` on each batch (one call a
batch: one transaction). Generating a batch is timed apart. Prints events stored per second
(target: 50,000/s on SQLite with batches of 10,000), the CPU time the process got, and the
aggregates kept (one per subscription, metric, month and region: 5 a subscription, asserted).
Then sends the first batch again and checks that it changes nothing (every event a duplicate; no
raw event, transaction or aggregate total moved). With a PostgreSQL URL the benchmark works in a
scratch database it creates on that server and drops.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench_time_import import database  # the script's folder
from sqlalchemy import func, select

from handoff.config import load_business_config
from handoff.context import AppContext
from handoff.contracts.domain.model import BillingKind, BillingRule, ContractLine, ContractTerms, ContractVersion
from handoff.contracts.service.contracts import check_lockable, store_locked
from handoff.kernel.audit import AuditKeys
from handoff.kernel.parties import Address, Customer
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import make_engine, upgrade
from handoff.usage.domain.events import UsageEvent
from handoff.usage.domain.metrics import Aggregation, BillableMetric, metric_to_json
from handoff.usage.service.ingest import record_usage
from handoff.usage.service.metrics import define_metric

MONTH = date(2027, 1, 1)
ACTOR = "system:bench"  # a program: usage checks no user for it
SEED_BATCH = 1_000  # contracts per seeding transaction
PROGRESS = 1_000_000  # events between progress lines
REGIONS = ("eu-central", "us-east", "ap-south")
# (line key, metric code, name, unit price per unit) of every benchmark contract
LINES = (
    ("L1", "api_calls", "API calls", Decimal("0.0008")),
    ("L2", "data_gb", "Data transferred (GB)", Decimal("0.0900")),
    ("L3", "active_users", "Active users", Decimal("4.0000")),
)
METRICS = (
    BillableMetric("api_calls", "API calls", Aggregation.COUNT),
    BillableMetric("data_gb", "Data transferred", Aggregation.SUM, field="gb", group_by=("region",), unit="E34"),
    BillableMetric("active_users", "Active users", Aggregation.UNIQUE_COUNT, field="user"),
)
AGGREGATES_PER_SUBSCRIPTION = 1 + len(REGIONS) + 1
BUYER = Customer(
    "CUST-USAGE",
    "Kestrel Analytics GmbH",
    "DE",
    True,
    "DE811907980",
    billing_email="ap@kestrel.example",
    address=Address("Invalidenstraße 1", "Berlin", "10115", "DE"),
)
# shared, immutable inputs (a dict per event would dominate memory and generation time)
NO_PROPERTIES: Mapping[str, str] = {}
GB = tuple(f"{n / 100:.2f}" for n in range(1, 500))  # 0.01 .. 4.99 GB
TRANSFERS = tuple({"region": r, "gb": gb} for r in REGIONS for gb in GB)
USERS = tuple({"user": f"user-{u:03d}"} for u in range(200))
MINUTES = 31 * 24 * 60
STAMPS = tuple(datetime(2027, 1, 1, tzinfo=UTC) + timedelta(minutes=m) for m in range(MINUTES))
# the moment the benchmark's events arrive: the month's last minute (inside the future tolerance)
RECEIVED = datetime(2027, 1, 31, 23, 59, 30, tzinfo=UTC)


def contract(n: int, start: date = MONTH) -> ContractVersion:
    """Usage contract number `n`: its three usage lines, priced per unit by default."""
    terms = ContractTerms(f"{BUYER.customer_id}-{n:05d}", "ACME-DE", "EUR", "net30", start, po_number=f"PO-U{n}")
    rule = BillingRule(BillingKind.USAGE)
    lines = tuple(ContractLine(key, code, name, Decimal(1), price, rule) for key, code, name, price in LINES)
    return ContractVersion(f"USG-{n:05d}", 1, start, terms, lines)


def define_metrics(ctx: AppContext) -> None:
    for metric in METRICS:
        define_metric(ctx, metric_to_json(metric), ACTOR)


def seed_contracts(ctx: AppContext, count: int, start: date = MONTH, batch: int = SEED_BATCH) -> list[str]:
    """`count` usage contracts locked (`contracts.store_locked`, as `lock` stores them, a thousand a
    transaction: seeding is not what is measured); their ids."""
    now = ctx.clock()
    ids: list[str] = []
    for first in range(0, count, batch):
        with ctx.unit_of_work() as uow:
            for n in range(first, min(count, first + batch)):
                version = contract(n, start)
                buyer = Customer(
                    version.terms.customer_id,
                    BUYER.legal_name,
                    BUYER.country,
                    True,
                    BUYER.vat_id,
                    billing_email=BUYER.billing_email,
                    address=BUYER.address,
                )
                if n == 0:
                    check_lockable(ctx, version, buyer)
                store_locked(uow, ctx, version, buyer, actor=ACTOR, reason="seeded for the benchmark", now=now)
                ids.append(version.contract_id)
            uow.commit()
    return ids


def events(subscriptions: list[str], first: int, count: int, total: int) -> list[UsageEvent]:
    """Events `first` .. `first + count - 1` of `total`: event i belongs to subscription i mod S and
    is that subscription's k-th (k = i div S); k decides the metric (half API calls, a quarter
    transfers in one of the regions, a quarter users seen); timestamps rise with i through January."""
    subs = len(subscriptions)
    out: list[UsageEvent] = []
    append = out.append
    for i in range(first, first + count):
        k = i // subs
        kind = k % 4
        if kind < 2:
            metric, properties = "api_calls", NO_PROPERTIES
        elif kind == 2:
            metric, properties = "data_gb", TRANSFERS[(k // 4 + i) % len(TRANSFERS)]
        else:
            metric, properties = "active_users", USERS[(k * 7 + i) % len(USERS)]
        append(
            UsageEvent(
                transaction_id=f"t{i}",
                metric=metric,
                timestamp=STAMPS[i * MINUTES // total],
                subscription=subscriptions[i % subs],
                properties=properties,
            )
        )
    return out


def counts(ctx: AppContext) -> dict[str, Any]:
    """Raw events, transactions and aggregates stored, and the aggregates' event and value totals."""
    agg = schema.usage_aggregates.c
    with ctx.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(schema.usage_events)).scalar_one()
        txns = conn.execute(select(func.count()).select_from(schema.usage_transactions)).scalar_one()
        aggregates, events_ = conn.execute(
            select(func.count(), func.sum(agg.events)).select_from(schema.usage_aggregates)
        ).one()
        # summed here as Decimals (SQLite's SUM of a NUMERIC column is a float)
        total = sum(conn.execute(select(agg.total)).scalars(), Decimal(0))
    return {"events": stored, "transactions": txns, "aggregates": aggregates, "counted": events_, "total": total}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="events per record_usage call")
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", default=None, help="write a cProfile of the ingest to this file")
    args = parser.parse_args()
    config = load_business_config()
    with tempfile.TemporaryDirectory() as tmp, database(args.db, tmp, "bench_usage") as url:
        engine = make_engine(url)
        upgrade(engine)
        ctx = AppContext(engine, config, lambda: RECEIVED, audit_keys=AuditKeys.generate())  # keyed, as in production
        t = time.perf_counter()
        define_metrics(ctx)
        subscriptions = seed_contracts(ctx, args.subscriptions)
        print(f"{len(subscriptions):,} usage contracts locked, 3 metrics defined in {time.perf_counter() - t:.1f} s")

        profiler = cProfile.Profile() if args.profile else None
        accepted = 0
        generating = storing = cpu = 0.0
        first_batch: list[UsageEvent] = []
        for start in range(0, args.events, args.batch):
            t = time.perf_counter()
            batch = events(subscriptions, start, min(args.batch, args.events - start), args.events)
            generating += time.perf_counter() - t
            if not first_batch:
                first_batch = batch
            t, c = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            result = record_usage(ctx, batch, ACTOR)
            if profiler:
                profiler.disable()
            storing += time.perf_counter() - t
            cpu += time.process_time() - c
            assert not result.refused and not result.duplicates, (result.refused[:3], result.duplicates[:3])
            accepted += len(result.accepted)
            if accepted % PROGRESS < args.batch and accepted < args.events:
                print(f"  {accepted:,} stored: {accepted / storing:,.0f} events/s so far ({storing:.0f} s)", flush=True)
        if profiler:
            profiler.dump_stats(args.profile)
        stored = counts(ctx)
        assert accepted == stored["events"] == stored["transactions"] == stored["counted"] == args.events, stored
        expected = AGGREGATES_PER_SUBSCRIPTION * min(len(subscriptions), args.events)
        assert stored["aggregates"] == expected, (stored, expected)
        print(
            f"ingest: {args.events / storing:,.0f} events/s stored on {engine.dialect.name} ({storing:.2f} s, "
            f"{cpu:.2f} s of CPU in this process; batches of {args.batch:,}; generating them in memory "
            f"took {generating:.2f} s more)"
        )
        print(
            f"stored: {stored['events']:,} raw events, {stored['transactions']:,} transaction ids, "
            f"{stored['aggregates']:,} aggregates (subscription x metric x month x region)"
        )

        t = time.perf_counter()
        again = record_usage(ctx, first_batch, ACTOR)
        elapsed = time.perf_counter() - t
        after = counts(ctx)
        assert len(again.duplicates) == len(first_batch) and not again.accepted and not again.refused, again
        assert after == stored, (after, stored)
        print(
            f"the first batch sent again: {len(again.duplicates):,} duplicates in {elapsed:.2f} s, nothing changed "
            f"({after['events']:,} raw events, aggregates' total {after['total']})"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
