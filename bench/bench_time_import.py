"""Time-entry import throughput: N time entries for P projects stored by `record_time`, and a re-import.

    python bench/bench_time_import.py [--entries 1000000] [--projects 1000] [--batch 50000]
                                      [--sample 100000] [--db sqlite:///path | postgresql+psycopg://...]
                                      [--profile FILE]

Locks P time-and-materials contracts (four roles each: architect, senior consultant, consultant,
analyst) and opens their projects (`open_projects`), then generates N entries in memory as
`TimeEntryInput`s (as a reader would hand them over: each project's team of four over its first
three months, hours to the hundredth), and times `record_time` on them `--batch` at a time (each call
one import: one audit entry, its own transactions). Prints entries stored per second (target:
20,000/s on SQLite) and the CPU time the process got. Then imports a sample of them again unchanged
(`--sample`) and checks that nothing changed (all unchanged, no row or audit entry added). With a
PostgreSQL URL the benchmark works in a scratch database it creates on that server and drops.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import create_engine, func, select, text

from handoff.config import load_business_config
from handoff.context import AppContext
from handoff.contracts.domain.model import BillingKind, BillingRule, ContractLine, ContractTerms, ContractVersion
from handoff.contracts.service.contracts import lock
from handoff.kernel.audit import AuditKeys
from handoff.kernel.parties import Address, Customer
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import make_engine, upgrade
from handoff.projects.domain.model import project_id_for
from handoff.projects.domain.signals import TimeEntryInput
from handoff.projects.service.delivery import record_time
from handoff.projects.service.projects import open_projects
from handoff.users import service as users
from handoff.users.service import Role

START = date(2027, 1, 1)
ACTOR = "finance@acme.example"
ROLES = (("architect", "160.00"), ("senior-consultant", "130.00"), ("consultant", "110.00"), ("analyst", "90.00"))
BUYER = Customer(
    "CUST-BENCH",
    "Nordlicht Logistik GmbH",
    "DE",
    True,
    "DE814729361",
    billing_email="kreditoren@nordlicht-logistik.example",
    address=Address("Am Sandtorkai 12", "Hamburg", "20457", "DE"),
)
# the hours of entries, shared (Decimals are immutable): 0.50 .. 8.49
HOURS = tuple(Decimal(n) / 100 for n in range(50, 850))


def contract(n: int, start: date = START) -> ContractVersion:
    """T&M contract number `n`: the four roles by the hour, budgets of 2,000 hours each."""
    terms = ContractTerms(f"{BUYER.customer_id}-{n:05d}", "ACME-DE", "EUR", "net30", start, po_number=f"PO-{n}")
    rule = BillingRule(BillingKind.TIME_AND_MATERIALS)
    lines = tuple(
        ContractLine(f"L{i}", role, f"{role}, per hour", Decimal(2000), Decimal(rate), rule)
        for i, (role, rate) in enumerate(ROLES, start=1)
    )
    return ContractVersion(f"TM-{n:05d}", 1, start, terms, lines)


def open_tm_projects(ctx: AppContext, count: int, start: date = START) -> list[str]:
    """Lock `count` T&M contracts starting `start` and open their projects (as the finance user
    `ACTOR`, added if missing); their project ids."""
    if users.user_by_email(ctx, ACTOR) is None:
        users.add_user(ctx, ACTOR, Role.FINANCE, "bench-finance-password", actor="bench")
    for n in range(count):
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
        lock(ctx, version, buyer, ACTOR, "seeded for the benchmark")
    open_projects(ctx, ACTOR)
    return [project_id_for(contract(n, start).contract_id) for n in range(count)]


def working_days(first: date, last: date) -> list[date]:
    days, day = [], first
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def entries(projects: list[str], total: int, first: date = START, days: int = 89) -> list[TimeEntryInput]:
    """`total` entries spread evenly over the projects: each project's four people (one per role)
    on its working days from `first` round robin (several entries a day when there are more entries
    than days)."""
    calendar = working_days(first, first + timedelta(days=days))
    per_project = -(-total // len(projects))
    out: list[TimeEntryInput] = []
    for p, project in enumerate(projects):
        for i in range(min(per_project, total - len(out))):
            role = ROLES[i % 4][0]
            slot = i // 4
            out.append(
                TimeEntryInput(
                    source="bench",
                    external_id=f"{p}-{i}",
                    project=project,
                    role=role,
                    person=f"{role}.{p}@acme.example",
                    work_date=calendar[slot % len(calendar)],
                    hours=HOURS[(p * 7 + i * 13) % len(HOURS)],
                    notes=f"ticket {i}",
                    row=f"bench row {i + 1}",
                )
            )
    return out


@contextmanager
def database(url: str | None, tmp: str, prefix: str = "bench_time") -> Iterator[str]:
    """The benchmark's database: a fresh SQLite file, or a scratch database on the PostgreSQL server."""
    if url is None or url.startswith("sqlite"):
        yield url or f"sqlite:///{tmp}/bench.db"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def counts(ctx: AppContext) -> tuple[int, int]:
    """(time entries, audit entries) stored."""
    with ctx.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(schema.time_entries)).scalar_one()
        audit = conn.execute(select(func.count()).select_from(schema.audit_log)).scalar_one()
    return stored, audit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50_000, help="entries per record_time call (one import)")
    parser.add_argument("--sample", type=int, default=100_000, help="entries imported again, unchanged")
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", default=None, help="write a cProfile of the import to this file")
    args = parser.parse_args()
    config = load_business_config()
    with tempfile.TemporaryDirectory() as tmp, database(args.db, tmp) as url:
        engine = make_engine(url)
        upgrade(engine)
        clock = lambda: datetime(2027, 4, 2, 9, 0, tzinfo=UTC)  # noqa: E731
        ctx = AppContext(engine, config, clock, audit_keys=AuditKeys.generate())  # keyed, as in production
        t = time.perf_counter()
        projects = open_tm_projects(ctx, args.projects)
        print(f"{len(projects):,} T&M contracts locked and their projects opened in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        batch = entries(projects, args.entries)
        print(f"{len(batch):,} entries generated in memory in {time.perf_counter() - t:.1f} s")

        profiler = cProfile.Profile() if args.profile else None
        created = 0
        t, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        for start in range(0, len(batch), args.batch):
            report = record_time(ctx, batch[start : start + args.batch], ACTOR)
            assert not report.errors, report.errors[:3]
            created += report.created
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        stored, audit = counts(ctx)
        assert created == stored == len(batch), (created, stored)
        print(
            f"import: {len(batch) / elapsed:,.0f} entries/s stored on {engine.dialect.name} ({elapsed:.2f} s, "
            f"{cpu:.2f} s of CPU in this process; {stored:,} entries, {audit:,} audit entries, "
            f"batches of {args.batch:,})"
        )

        sample = batch[:: max(1, len(batch) // args.sample)][: args.sample]
        t = time.perf_counter()
        report = record_time(ctx, sample, ACTOR)
        elapsed = time.perf_counter() - t
        after = counts(ctx)
        assert report.unchanged == len(sample) and report.created == report.updated == report.deleted == 0, report
        assert after == (stored, audit), (after, stored, audit)
        print(
            f"re-import of {len(sample):,} unchanged entries: {len(sample) / elapsed:,.0f} entries/s "
            f"({elapsed:.2f} s); nothing changed ({after[0]:,} entries, {after[1]:,} audit entries)"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
