"""The billing run under SIGKILL, on SQLite and PostgreSQL: 10,000 subscriptions due on one day,
several worker processes running `run_billing` for that day at once (small chunks, so a run makes
many commits to be killed between and inside), killed at random moments (as the run's progress
passes random points) and started again, then one more run to completion.
Every due schedule item is invoiced exactly once: billed items, schedule items and the drafts'
invoice lines name the same (contract, line, period) set, each once; every draft has its billed
items and every billed item its draft; one audit entry per draft and the audit chain verifies."""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from handoff.audit.service import verify
from handoff.context import AppContext
from handoff.contracts.service.billing_run import run_billing
from handoff.invoicing.domain.invoices import invoice_from_json
from handoff.kernel.storage import schema

ROOT = Path(__file__).resolve().parents[3]
CONTRACTS = 10_000
WORKERS = 3
KILLS = 5
CHUNK = 50  # contracts per transaction (`handoff billing run` uses billing_run.CHUNK, 500: 20 commits in all)

# as `handoff billing run --date D` does, with a smaller chunk and a worker id
_WORKER = """
import os, sys
from datetime import date
from handoff.bootstrap import build_context
from handoff.config import Settings
from handoff.contracts.service.billing_run import run_billing
ctx = build_context(Settings.from_env({**os.environ, "HANDOFF_DATABASE_URL": sys.argv[1]}), migrate=False)
result = run_billing(ctx, date.fromisoformat(sys.argv[2]), sys.argv[3], chunk=int(sys.argv[4]))
sys.exit(1 if result.failures else 0)
"""


def _bench() -> Any:
    """`bench/bench_billing_run.py`, whose bulk seeding (what `contracts.lock` writes) we reuse."""
    spec = importlib.util.spec_from_file_location("bench_billing_run", ROOT / "bench" / "bench_billing_run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_billing_run"] = module
    spec.loader.exec_module(module)
    return module


def _billed(ctx: AppContext) -> int:
    """How many items are billed so far. On SQLite read through a read-only connection of its own:
    the engine's transactions begin IMMEDIATE (they queue for the write lock behind the workers), and
    a progress read that waits for a turn sees the run leap ahead, killing only after it ended."""
    url = ctx.engine.url
    if url.get_backend_name() == "sqlite":
        with closing(sqlite3.connect(f"file:{url.database}?mode=ro", uri=True, timeout=30)) as conn:
            return int(conn.execute("SELECT count(*) FROM billed_items").fetchone()[0])
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.billed_items)).scalar_one())


@pytest.mark.slow
def test_killed_workers_invoice_every_due_item_exactly_once(ctx: AppContext, db_url: str, tmp_path: Path) -> None:
    bench = _bench()
    due = bench.DUE
    bench.seed(ctx, CONTRACTS, due, monthly=False)  # 3-year annual subscriptions, every fourth with a fee
    expected_items = CONTRACTS + (CONTRACTS + 2) // 4  # each first period, every fourth contract a fee
    rng = random.Random(20261204)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    logs = []

    def start(n: int) -> subprocess.Popen[bytes]:
        logs.append((tmp_path / f"w{n}.err").open("ab"))
        return subprocess.Popen(
            [sys.executable, "-c", _WORKER, db_url, due.isoformat(), f"w{n}", str(CHUNK)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=logs[-1],
        )

    workers = [start(n) for n in range(WORKERS)]
    kill_at = [rng.uniform(0.02 + 0.8 * k / KILLS, 0.02 + 0.8 * (k + 1) / KILLS) for k in range(KILLS)]  # spread
    progress_at_kill: list[int] = []
    n = WORKERS
    deadline = time.monotonic() + 240
    try:
        while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
            billed = _billed(ctx)
            if kill_at and billed >= kill_at[0] * expected_items:
                kill_at.pop(0)
                running = [i for i, w in enumerate(workers) if w.poll() is None]
                if running:
                    victim = rng.choice(running)
                    workers[victim].send_signal(signal.SIGKILL)
                    workers[victim].wait()
                    progress_at_kill.append(billed)
                    workers[victim] = start(n)
                    n += 1
            time.sleep(rng.uniform(0.01, 0.1))
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
            w.wait()
        for log in logs:
            log.close()
    errors = {p.name: p.read_text() for p in tmp_path.glob("w*.err") if p.read_text().strip()}
    assert all(w.returncode == 0 for w in workers), errors  # the last generation ran to its end
    assert sum(0 < b < expected_items for b in progress_at_kill) >= 3, progress_at_kill  # killed mid-run

    # the run again, to completion: whatever the killed workers left, then nothing
    rest = run_billing(ctx, due, "final", chunk=CHUNK)
    assert rest.failures == []
    assert run_billing(ctx, due, "again").drafts == 0
    _assert_exactly_once(ctx, due, expected_items)


def _assert_exactly_once(ctx: AppContext, due: date, expected_items: int) -> None:
    s, b, inv, audit = schema.schedule_items, schema.billed_items, schema.invoices, schema.audit_log
    with ctx.engine.connect() as conn:
        items = conn.execute(
            select(s.c.contract_id, s.c.line_key, s.c.period_key, s.c.period_start, s.c.status, s.c.invoice_id).where(
                s.c.bill_date <= due
            )
        ).all()
        billed = conn.execute(select(b.c.contract_id, b.c.line_key, b.c.period_key, b.c.invoice_id)).all()
        drafts = conn.execute(select(inv.c.id, inv.c.document)).all()
        billed_entries = (
            conn.execute(select(audit.c.entity_id).where(audit.c.action == "contract.billed")).scalars().all()
        )
        not_due_billed = conn.execute(
            select(func.count()).select_from(s).where(s.c.bill_date > due, s.c.status != "planned")
        ).scalar_one()

    # schedule items due: each billed, by the invoice its billed_items row names
    assert len(items) == expected_items and not_due_billed == 0
    by_item = {(r.contract_id, r.line_key, r.period_key): r.invoice_id for r in billed}
    assert len(billed) == len(by_item) == expected_items  # no (contract, line, period) twice
    assert all(r.status == "billed" for r in items)
    assert {(r.contract_id, r.line_key, r.period_key): r.invoice_id for r in items} == by_item

    # the drafts' lines (BG-25, with the contract line and BG-26 period): each due item once, on the
    # invoice its billed item names
    periodic = {(r.contract_id, r.line_key, r.period_key): r.period_start.isoformat() for r in items}
    expected = Counter(
        (c, ln, periodic[(c, ln, p)] if p[:1].isdigit() else None, invoice_id)
        for (c, ln, p), invoice_id in by_item.items()
    )
    lines: Counter[tuple[str, str, str | None, int]] = Counter()
    for draft in drafts:
        assert draft.document["lines"], f"draft {draft.id} has no lines"
        lines.update(
            (ln["order_ref"], ln["contract_line"], ln["period_start"], draft.id) for ln in draft.document["lines"]
        )
    assert lines == expected
    assert invoice_from_json(drafts[0].document).lines[0].order_ref.startswith("SUB-")  # a document as read back
    # no draft without its billed items, no billed item without its draft
    assert {d.id for d in drafts} == set(by_item.values())
    # one audit entry per draft, and the chain (the seeding's entries, every run's) verifies
    assert sorted(billed_entries) == sorted(f"billing:{d.id}" for d in drafts)
    count, broken = verify(ctx)
    assert broken is None and count >= CONTRACTS + len(drafts)
