"""Dashboard and list queries with 1,000,000 orders in PostgreSQL.

    python bench/bench_queries.py [--orders 1000000] [--keep]

Seeds a fresh database in SQL (orders across every state, their exceptions, tasks, invoices and
inbox rows, about 50,000 customers and 20 owners; a few seconds per 100k), then times each query
the dashboard, the API lists and the UI run: the median of 5 runs after one warm-up, in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine, text

from handoff.config import load_business_config
from handoff.context import AppContext
from handoff.deals.service import queries as deal_queries
from handoff.invoicing.service import queries as invoice_queries
from handoff.kernel.storage.db import make_engine, upgrade
from handoff.reporting.service import metrics

PG_ADMIN = os.environ.get("HANDOFF_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

SEED = [
    # orders: state by share, owners, customers, amounts, times spread over a year
    """
    INSERT INTO orders (deal_id, source, state, version_at, version_event, data, customer_id, customer_name,
                        legal_entity, owner_email, amount, currency, received_at, ready_at, invoiced_at, cycle_seconds,
                        updated_at)
    SELECT 'S-' || i, 'seed',
           CASE WHEN r < 0.02 THEN 'pipeline' WHEN r < 0.17 THEN 'blocked' WHEN r < 0.20 THEN 'ready'
                WHEN r < 0.25 THEN 'drafted' WHEN r < 0.55 THEN 'sent' ELSE 'paid' END,
           t, 'e' || i, jsonb_build_object('deal_name', 'Seeded deal ' || i),
           'C-' || (i % 50000), 'Customer ' || (i % 50000) || ' GmbH',
           CASE WHEN i % 5 = 0 THEN 'ACME-US' ELSE 'ACME-DE' END,
           'owner' || (i % 20) || '@acme.example', (1000 + (i % 50000))::numeric, 'EUR',
           t, CASE WHEN r >= 0.17 THEN t + interval '1 day' END,
           CASE WHEN r >= 0.45 THEN t + (i % 20) * interval '1 day' END,
           CASE WHEN r >= 0.45 THEN (i % 20) * 86400 END, t
    FROM (SELECT i, random() AS r, now() - (i % 365) * interval '1 day' AS t
          FROM generate_series(1, :n) AS i) s
    """,
    """
    INSERT INTO inbox (source, event_id, deal_id, occurred_at, received_at, payload, status, processed_at)
    SELECT CASE WHEN id % 25 = 0 THEN 'user:owner@acme.example' ELSE 'seed' END, 'e' || id, deal_id,
           received_at, received_at, '{}'::jsonb, 'applied', received_at FROM orders
    """,
    """
    INSERT INTO exceptions (order_id, deal_id, owner, problems, reasons, status, opened_at, updated_at, resolved_at)
    SELECT id, deal_id, owner_email,
           '[{"code": "missing", "field": "po_number", "message": "po_number is missing"}]'::jsonb,
           '|missing|po_number|',
           CASE WHEN state = 'blocked' THEN 'open' ELSE 'resolved' END, received_at, received_at,
           CASE WHEN state = 'blocked' THEN NULL ELSE ready_at END
    FROM orders WHERE state = 'blocked' OR id % 7 = 0
    """,
    "UPDATE orders SET had_exception = true WHERE id IN (SELECT order_id FROM exceptions)",
    "UPDATE orders SET touched_by_person = true WHERE id % 25 = 0",
    """
    INSERT INTO tasks (order_id, deal_id, kind, status, note, created_at, done_at)
    SELECT id, deal_id, 'issue_invoice', CASE WHEN state IN ('ready', 'drafted') THEN 'open' ELSE 'done' END,
           'review and send the invoice', ready_at, invoiced_at
    FROM orders WHERE ready_at IS NOT NULL
    """,
    """
    INSERT INTO invoices (draft_key, number, kind, status, payment_state, legal_entity, customer_id, customer_name,
                          currency, net_amount, tax_amount, gross_amount, paid_amount, issue_date, due_date,
                          payment_reference, document, created_at, issued_at)
    SELECT 'order:' || deal_id, CASE WHEN state IN ('sent', 'paid') THEN 'INV-' || id END, 'invoice',
           CASE WHEN state IN ('sent', 'paid') THEN 'issued' ELSE 'draft' END,
           CASE WHEN state = 'paid' THEN 'paid' WHEN id % 10 = 0 THEN 'partial' ELSE 'unpaid' END,
           legal_entity, customer_id, customer_name, currency, amount, amount * 0.19, amount * 1.19,
           CASE WHEN state = 'paid' THEN amount * 1.19 WHEN id % 10 = 0 THEN amount * 0.5 ELSE 0 END,
           invoiced_at::date, (invoiced_at + interval '30 days')::date, 'RF00' || id, '{}'::jsonb,
           ready_at, invoiced_at
    FROM orders WHERE state IN ('drafted', 'sent', 'paid')
    """,
    """
    INSERT INTO invoice_orders (invoice_id, order_id)
    SELECT i.id, o.id FROM invoices i JOIN orders o ON i.draft_key = 'order:' || o.deal_id
    """,
    "VACUUM ANALYZE",  # what autovacuum does on a live database
]


def timed(fn: Callable[[], Any], runs: int = 5) -> float:
    fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    name = f"handoff_queries_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    t = time.perf_counter()
    with engine.begin() as conn:
        for statement in SEED[:-1]:
            conn.execute(text(statement), {"n": args.orders})
    ctx = AppContext(engine, load_business_config())
    metrics.compact_state_counts(ctx)  # what the worker's hourly job does
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(SEED[-1]))
    print(f"seeded {args.orders:,} orders in {time.perf_counter() - t:.1f} s")
    cases: dict[str, Callable[[], Any]] = {
        "dashboard metrics": lambda: metrics.compute(ctx),
        "orders, first page": lambda: deal_queries.list_orders(ctx),
        "orders, page 200": lambda: deal_queries.list_orders(ctx, offset=10_000),
        "orders by state": lambda: deal_queries.list_orders(ctx, state="blocked"),
        "orders by owner": lambda: deal_queries.list_orders(ctx, owner="owner7@acme.example"),
        "orders by customer": lambda: deal_queries.list_orders(ctx, customer="C-4711"),
        "orders, text search": lambda: deal_queries.list_orders(ctx, text="S-123456"),
        "exception queue": lambda: deal_queries.list_exceptions(ctx),
        "exception queue by owner": lambda: deal_queries.list_exceptions(ctx, owner="owner3@acme.example"),
        "exception queue by reason": lambda: deal_queries.list_exceptions(ctx, reason="po_number"),
        "finance tasks": lambda: invoice_queries.list_tasks(ctx),
        "invoices, issued": lambda: invoice_queries.list_invoices(ctx, status="issued"),
        "order detail": lambda: deal_queries.order_detail(ctx, "S-500000"),
    }
    worst = 0.0
    for label, fn in cases.items():
        ms = timed(fn)
        worst = max(worst, ms)
        print(f"{label:28} {ms:8.1f} ms")
    print(f"slowest: {worst:.1f} ms (target < 200 ms)")
    engine.dispose()
    if not args.keep:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
