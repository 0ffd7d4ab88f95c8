"""Intake throughput: readiness `check` alone, and the full import with persistence.

    python bench/bench_import.py [--deals 100000] [--db sqlite:///path | postgresql://...]

Generates synthetic deals (about a fifth with defects), writes them as the generic deal CSV, then
times (1) reading + checking every deal, (2) `handoff import`'s path: read, store in the inbox,
apply (orders, customers, exceptions, tasks, invoice drafts, audit chain, outbox) into a fresh
database. Prints deals per second for each.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from handoff.config import load_business_config
from handoff.context import AppContext
from handoff.deals.domain.readiness import check
from handoff.deals.formats import read_deal_file
from handoff.deals.formats.files import deal_input, read_deal_rows
from handoff.deals.service.intake import ingest
from handoff.demo.generate import deals, to_csv
from handoff.kernel.audit import AuditKeys
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import make_engine, upgrade


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    config = load_business_config()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deals.csv"
        t = time.perf_counter()
        path.write_text(to_csv(deals(args.deals, seed=42)))
        print(f"generated {args.deals:,} deals in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        rows = read_deal_rows(path)
        blocked = sum(1 for r in rows if check(deal_input(str(path), r), config.ruleset))
        elapsed = time.perf_counter() - t
        print(f"check:  {args.deals / elapsed:,.0f} deals/s ({elapsed:.2f} s; {blocked:,} blocked)")

        url = args.db or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        ctx = AppContext(engine, config, audit_keys=AuditKeys.generate())  # keyed, as in production
        t = time.perf_counter()
        events = read_deal_file(path, source="bench")
        _, processed = ingest(ctx, events, render_ahead=True)  # as `handoff import` does
        elapsed = time.perf_counter() - t
        with engine.connect() as conn:
            orders = conn.execute(select(func.count()).select_from(schema.orders)).scalar_one()
            audit = conn.execute(select(func.count()).select_from(schema.audit_log)).scalar_one()
        assert orders == args.deals and processed.failed == 0
        print(
            f"import: {args.deals / elapsed:,.0f} deals/s persisted on {engine.dialect.name} ({elapsed:.2f} s; "
            f"{orders:,} orders, {audit:,} audit entries, states {processed.states})"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
