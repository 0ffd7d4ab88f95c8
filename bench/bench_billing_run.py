"""The contract billing run's throughput: N subscriptions all due on one day, drafted by `run_billing`.

    python bench/bench_billing_run.py [--contracts 100000] [--db sqlite:///path | postgresql+psycopg://...]
                                      [--chunk 500] [--profile FILE]

Seeds N active contracts (half annual for 3 years, half monthly for a year; every fourth with a
one-time onboarding fee; buyers alternate between German customers (domestic VAT) and French
businesses (reverse charge)), all starting on one day, so each has its first period (and the fee)
due that day. The seeding writes the rows `contracts.lock` would (its own row builders, a
`contract.locked` audit entry each) in bulk, a few thousand contracts per transaction; it is not
what is measured. Then times `run_billing` for that day and prints invoices drafted and stored per
second (and the CPU time the process got: on a busy host far less than the wall time), with the time
spent in each phase of the run (measured by wrapping the run's own functions).
With a PostgreSQL URL the benchmark works in a scratch database it creates on that server and drops.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import wraps
from typing import Any

from sqlalchemy import create_engine, func, select, text

from handoff.config import load_business_config
from handoff.context import AppContext
from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Frequency,
)
from handoff.contracts.domain.schedule import plan
from handoff.contracts.repository.contracts import ContractRepository
from handoff.contracts.service import billing_run
from handoff.contracts.service.contracts import _contract_row, _item_row
from handoff.kernel.audit import AuditKeys
from handoff.kernel.parties import Address, Customer
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.db import make_engine, upgrade

DUE = date(2027, 1, 1)
BATCH = 5_000  # contracts per seeding transaction
BUYERS = (
    Customer(
        "CUST-DE",
        "Kestrel Analytics GmbH",
        "DE",
        True,
        "DE811907980",
        billing_email="ap@kestrel.example",
        address=Address("Invalidenstraße 1", "Berlin", "10115", "DE"),
    ),
    Customer(
        "CUST-FR",
        "Héron Logiciels SAS",
        "FR",
        True,
        "FR40303265045",
        billing_email="factures@heron.example",
        address=Address("12 rue de la Paix", "Paris", "75002", "FR"),
    ),
)


def template(n: int, on: date = DUE, monthly: bool = True) -> ContractVersion:
    """Contract number `n`: an annual (even n, or every n without `monthly`) or monthly (odd n)
    subscription starting `on`."""
    annual = n % 2 == 0 or not monthly
    buyer = BUYERS[(n // 2) % len(BUYERS)]
    terms = ContractTerms(f"{buyer.customer_id}-{n:06d}", "ACME-DE", "EUR", "net30", on, po_number=f"PO-{n}")
    rule = BillingRule(
        BillingKind.RECURRING,
        frequency=Frequency.ANNUAL if annual else Frequency.MONTHLY,
        end=date(on.year + 3, on.month, on.day) if annual else date(on.year + 1, on.month, on.day),
    )
    lines = [
        ContractLine(
            "L1",
            "PLAT-ANNUAL" if annual else "PLAT-MONTHLY",
            "Platform subscription",
            Decimal(10 + n % 40),
            Decimal("1200.00") if annual else Decimal("110.00"),
            rule,
        )
    ]
    if n % 4 == 1:
        lines.append(
            ContractLine(
                "L2", "ONBOARD", "Onboarding", Decimal(1), Decimal("2500.00"), BillingRule(BillingKind.ONE_TIME)
            )
        )
    return ContractVersion(f"SUB-{n:07d}", 1, on, terms, tuple(lines))


def buyer_for(version: ContractVersion) -> Customer:
    base = BUYERS[0] if version.terms.customer_id.startswith("CUST-DE") else BUYERS[1]
    return replace(base, customer_id=version.terms.customer_id)


def seed(
    ctx: AppContext, count: int, on: date = DUE, batch: int = BATCH, actor: str = "bench", monthly: bool = True
) -> int:
    """`count` contracts due on `on`, written in bulk as `contracts.lock` writes them (`monthly`
    False: annual ones only, fewer rows); returns the schedule items written."""
    now = ctx.clock()
    written = 0
    shapes: dict[int, list[dict[str, Any]]] = {}  # planned rows by contract shape (n % 40 decides it)
    for start in range(0, count, batch):
        contracts, versions, items = [], [], []
        with ctx.unit_of_work() as uow:
            for n in range(start, min(count, start + batch)):
                version = template(n, on, monthly)
                digest = version.content_hash
                rows = shapes.get(n % 40)
                if rows is None:
                    rows = shapes[n % 40] = [_item_row(version, item) for item in plan(version)]
                contracts.append(_contract_row(version, buyer_for(version), now))
                versions.append(
                    {
                        "contract_id": version.contract_id,
                        "version": 1,
                        "effective": version.effective,
                        "change_order": "",
                        "content": version.to_json(),
                        "content_hash": digest,
                        "created_at": now,
                        "created_by": actor,
                    }
                )
                items.extend({**row, "contract_id": version.contract_id} for row in rows)
                uow.audit(
                    at=now,
                    actor=actor,
                    action="contract.locked",
                    entity_type="contract",
                    entity_id=version.contract_id,
                    reason="seeded for the billing-run benchmark",
                    after={"version": 1, "content_hash": digest, "items": len(rows)},
                )
            insert_many(uow.conn, schema.contracts, contracts)
            insert_many(uow.conn, schema.contract_versions, versions)
            insert_many(uow.conn, schema.schedule_items, items)
            uow.commit()
        written += len(items)
    return written


class Phases:
    """Seconds spent in the billing run's own functions (wrapped for the run, restored after)."""

    TARGETS: tuple[tuple[Any, str, str], ...] = (
        (ContractRepository, "due_contracts", "find due contracts"),
        (ContractRepository, "claim", "claim contracts"),
        (ContractRepository, "due_items", "load due items"),
        (billing_run, "_build", "build drafts (VAT, totals)"),
        (billing_run, "to_json_bytes_sharing", "serialise drafts"),
        (billing_run, "_write", "write drafts (rows, audit)"),
        (billing_run.UnitOfWork, "commit", "commit (audit chain, disk)"),
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def wrapped(self) -> Iterator[None]:
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in self.TARGETS]
        for owner, name, label in self.TARGETS:
            setattr(owner, name, self._timed(getattr(owner, name), label))
        try:
            yield
        finally:
            for owner, name, original in saved:
                setattr(owner, name, original)

    def _timed(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        seconds = self.seconds

        @wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - t

        return timed


@contextmanager
def database(url: str | None, tmp: str) -> Iterator[str]:
    """The benchmark's database: a fresh SQLite file, or a scratch database on the PostgreSQL server."""
    if url is None or url.startswith("sqlite"):
        yield url or f"sqlite:///{tmp}/bench.db"
        return
    name = f"bench_billing_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--chunk", type=int, default=billing_run.CHUNK, help="contracts per transaction")
    parser.add_argument("--profile", default=None, help="write a cProfile of the run to this file")
    args = parser.parse_args()
    config = load_business_config()
    with tempfile.TemporaryDirectory() as tmp, database(args.db, tmp) as url:
        engine = make_engine(url)
        upgrade(engine)
        clock = lambda: datetime(2026, 12, 20, 9, 0, tzinfo=UTC)  # noqa: E731
        ctx = AppContext(engine, config, clock, audit_keys=AuditKeys.generate())  # keyed, as in production
        t = time.perf_counter()
        items = seed(ctx, args.contracts)
        elapsed = time.perf_counter() - t
        print(f"seeded {args.contracts:,} contracts ({items:,} schedule items) in {elapsed:.1f} s")

        phases = Phases()
        profiler = cProfile.Profile() if args.profile else None
        with phases.wrapped():
            t, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            result = billing_run.run_billing(ctx, DUE, "bench", chunk=args.chunk)
            if profiler:
                profiler.disable()
            elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        if profiler:
            profiler.dump_stats(args.profile)
        with engine.connect() as conn:
            invoices = conn.execute(select(func.count()).select_from(schema.invoices)).scalar_one()
            billed = conn.execute(select(func.count()).select_from(schema.billed_items)).scalar_one()
        due_items = args.contracts + (args.contracts + 2) // 4
        assert not result.failures, result.failures[:3]
        assert result.drafts == invoices == args.contracts and result.items == billed == due_items
        print(
            f"billing run: {result.drafts / elapsed:,.0f} drafts/s stored on {engine.dialect.name} "
            f"({elapsed:.2f} s, {cpu:.2f} s of CPU in this process; {result.drafts:,} invoices, "
            f"{result.items:,} items, chunk {args.chunk}, {result.retried_chunks} chunks retried)"
        )
        accounted = sum(phases.seconds.values())
        for label, seconds in sorted(phases.seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {label:28} {seconds:7.2f} s  {seconds / elapsed:5.1%}")
        print(f"  {'other':28} {elapsed - accounted:7.2f} s  {(elapsed - accounted) / elapsed:5.1%}")
        engine.dispose()


if __name__ == "__main__":
    main()
