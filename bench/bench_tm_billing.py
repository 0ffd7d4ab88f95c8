"""The monthly T&M billing of many projects: `post_delivery` for a month, then the billing run.

    python bench/bench_tm_billing.py [--projects 1000] [--db sqlite:///path | postgresql+psycopg://...]
                                     [--profile FILE]

Locks P time-and-materials contracts (four roles each) and opens their projects, plans each with
entries rounded up to a quarter hour and a 10 % markup on expenses, and records a month (January
2027) of its team's time: four people, one entry each working day (84 entries a project), and two
expenses. Then times, as the worker does on the 1st, `post_delivery(through=2027-02-01)` (the
month's approved work rated and added to each contract's schedule: four role items and one expense
item a project) and `run_billing` for the day (one invoice draft a project). Prints projects posted
per second and drafts per second, and checks the counts. With a PostgreSQL URL the benchmark works in
a scratch database it creates on that server and drops.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from bench_time_import import ACTOR, ROLES, database, open_tm_projects, working_days  # the script's folder
from sqlalchemy import func, select

from handoff.config import load_business_config
from handoff.context import AppContext
from handoff.contracts.service.billing_run import run_billing
from handoff.kernel.audit import AuditKeys
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import make_engine, upgrade
from handoff.projects.domain.signals import ExpenseInput, TimeEntryInput
from handoff.projects.service.delivery import record_expenses, record_time
from handoff.projects.service.posting import post_delivery
from handoff.projects.service.projects import set_plan

MONTH = date(2027, 1, 1)
THROUGH = date(2027, 2, 1)
PLAN = {"settings": {"rounding_increment": "0.25", "rounding": "up", "expense_markup_percent": "10"}}
HOURS = tuple(Decimal(n) / 100 for n in range(150, 850))


def month_of_work(projects: list[str]) -> tuple[list[TimeEntryInput], list[ExpenseInput]]:
    """January 2027 for every project: one entry per person (one per role) and working day, two expenses."""
    days = working_days(MONTH, THROUGH - timedelta(days=1))
    time_entries: list[TimeEntryInput] = []
    expenses: list[ExpenseInput] = []
    for p, project in enumerate(projects):
        for d, day in enumerate(days):
            for r, (role, _) in enumerate(ROLES):
                time_entries.append(
                    TimeEntryInput(
                        source="bench",
                        external_id=f"{p}-{d}-{r}",
                        project=project,
                        role=role,
                        person=f"{role}.{p}@acme.example",
                        work_date=day,
                        hours=HOURS[(p * 31 + d * 7 + r * 13) % len(HOURS)],
                        notes=f"ticket {d}",
                    )
                )
        for e, (category, amount) in enumerate((("travel", "124.50"), ("lodging", "139.00"))):
            expenses.append(
                ExpenseInput(
                    source="bench",
                    external_id=f"{p}-x{e}",
                    project=project,
                    person=f"architect.{p}@acme.example",
                    spent_on=days[e * 5],
                    amount=Decimal(amount),
                    currency="EUR",
                    category=category,
                    receipt_ref=f"R-{p}-{e}",
                )
            )
    return time_entries, expenses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", default=None, help="write a cProfile of posting and billing to this file")
    args = parser.parse_args()
    config = load_business_config()
    with tempfile.TemporaryDirectory() as tmp, database(args.db, tmp, "bench_tm") as url:
        engine = make_engine(url)
        upgrade(engine)
        clock = lambda: datetime(2027, 2, 1, 6, 0, tzinfo=UTC)  # noqa: E731
        ctx = AppContext(engine, config, clock, audit_keys=AuditKeys.generate())  # keyed, as in production
        t = time.perf_counter()
        projects = open_tm_projects(ctx, args.projects, MONTH)
        for project in projects:
            set_plan(ctx, project, PLAN, ACTOR, "benchmark plan")
        time_entries, expenses = month_of_work(projects)
        recorded = record_time(ctx, time_entries, ACTOR)
        spent = record_expenses(ctx, expenses, ACTOR)
        assert not recorded.errors and not spent.errors, (recorded.errors[:3], spent.errors[:3])
        print(
            f"{len(projects):,} projects opened and planned, {recorded.created:,} time entries and "
            f"{spent.created:,} expenses recorded in {time.perf_counter() - t:.1f} s"
        )

        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        t, cpu = time.perf_counter(), time.process_time()
        posting = post_delivery(ctx, THROUGH, ACTOR)
        post_s, post_cpu = time.perf_counter() - t, time.process_time() - cpu
        t, cpu = time.perf_counter(), time.process_time()
        billing = run_billing(ctx, THROUGH, "bench")
        bill_s, bill_cpu = time.perf_counter() - t, time.process_time() - cpu
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        with engine.connect() as conn:
            items = conn.execute(
                select(func.count()).select_from(schema.schedule_items).where(schema.schedule_items.c.note != "")
            ).scalar_one()
            invoices = conn.execute(select(func.count()).select_from(schema.invoices)).scalar_one()
        assert not billing.failures and not posting.failures, (billing.failures[:3], posting.failures[:3])
        assert items == 5 * len(projects), items
        assert billing.drafts == invoices == len(projects) and billing.items == items, (billing, invoices)
        print(
            f"post_delivery: {len(projects) / post_s:,.0f} projects/s ({post_s:.2f} s, {post_cpu:.2f} s of CPU; "
            f"{items:,} schedule items, {posting.amount:,.2f} EUR net, from {len(time_entries) + len(expenses):,} "
            f"entries; {len(posting.failures)} failed)"
        )
        print(
            f"run_billing: {billing.drafts / bill_s:,.0f} drafts/s ({bill_s:.2f} s, {bill_cpu:.2f} s of CPU; "
            f"{billing.drafts:,} invoices, {billing.items:,} items) on {engine.dialect.name}"
        )
        print(f"month billed: {len(projects) / (post_s + bill_s):,.0f} projects/s end to end")
        engine.dispose()


if __name__ == "__main__":
    main()
