"""Fault harness: many deliveries, killed workers, a flaky accounting system; nothing lost, nothing twice.

    python bench/fault_harness.py                     # 10,000 events, 4 workers, 20 kills, 10 % failures
    python bench/fault_harness.py --events 600 --workers 2 --kills 3   # the size CI runs

On a fresh PostgreSQL database: deal events (about a third of deals have an earlier, incomplete
version), each delivered 1 to 5 times and shuffled within windows so versions arrive out of order,
are fed into the inbox while `--workers` real `handoff worker` processes apply them, issue the
invoices and push them to an accounting stand-in that fails `--fail-rate` of its calls (half
before storing, half after storing but before answering, the hard case for retries). Workers are
killed with SIGKILL at random moments and restarted. When everything is quiet it checks, prints
and asserts: every deal once and in the state of its newest version; one invoice per ready deal,
gapless numbers; every invoice exactly once in the stand-in; no outbox row lost (each delivered, or
dead with its reason); the audit chain verifies.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, func, select, text

from handoff.audit.service import verify
from handoff.config import DEFAULTS, load_business_config
from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent, DealInput
from handoff.deals.service.intake import receive
from handoff.demo.generate import deals
from handoff.kernel.audit import AuditKey, AuditKeys
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import make_engine, upgrade

SRC = Path(__file__).resolve().parents[1] / "src"
PG_ADMIN = os.environ.get("HANDOFF_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@dataclass
class Ledger:
    """The accounting stand-in's books: what was stored, how often, and the faults it injected."""

    fail_rate: float
    rng: random.Random
    stored: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def accounting_stand_in(ledger: Ledger) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            number = self.path.rsplit("/", 1)[-1]
            with ledger.lock:
                ledger.calls += 1
                if ledger.rng.random() < ledger.fail_rate:
                    ledger.failed += 1
                    return self._answer(500, {"error": "injected"})
                found = number in ledger.stored
            self._answer(200 if found else 404)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with ledger.lock:
                ledger.calls += 1
                roll = ledger.rng.random()
                if roll < ledger.fail_rate / 2:
                    ledger.failed += 1
                    return self._answer(500, {"error": "injected before storing"})
                if self.path == "/invoices":
                    ledger.stored[body["number"]] += 1
                if roll < ledger.fail_rate:
                    ledger.failed += 1
                    return self._answer(502, {"error": "injected after storing"})
            self._answer(201)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def make_events(count: int, rng: random.Random) -> tuple[list[DealEvent], dict[str, bool]]:
    """About `count` versions: a third of deals get an incomplete first version, a tenth end incomplete.
    Returns the events and, per deal, whether its newest version is ready to bill."""
    events: list[DealEvent] = []
    final_ready: dict[str, bool] = {}
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    for n, row in enumerate(deals(count, seed=rng.randrange(1 << 30), defect_rate=0)):
        if len(events) >= count:
            break
        row = {**row, "deal_id": f"H-{n:06d}"}
        versions = []
        if rng.random() < 0.33:
            versions.append({**row, "requires_po": "true", "po_number": ""})
        final = {**row, "billing_email": ""} if rng.random() < 0.1 else row
        versions.append(final)
        for v, data in enumerate(versions[: count - len(events)]):
            events.append(
                DealEvent(
                    "harness",
                    f"{row['deal_id']}-v{v}",
                    t0 + timedelta(minutes=n, seconds=v),
                    DealInput.from_mapping(data),
                )
            )
            final_ready[row["deal_id"]] = data["billing_email"] != "" and not (
                data["requires_po"] == "true" and not data["po_number"]
            )
    return events, final_ready


def deliveries(events: list[DealEvent], rng: random.Random, window: int = 300) -> list[DealEvent]:
    out = [e for e in events for _ in range(rng.randint(1, 5))]
    for start in range(0, len(out), window):  # shuffled within windows: partly out of order
        chunk = out[start : start + window]
        rng.shuffle(chunk)
        out[start : start + window] = chunk
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--fail-rate", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp())
    name = f"handoff_harness_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    config = yaml.safe_load((DEFAULTS / "handoff.yaml").read_text())
    config["automation"]["issue_drafts"] = True
    config["connectors"]["accounting"] = ["generic_rest"]
    config["outbox"] = {"max_attempts": 12, "base_delay_seconds": 0.2, "max_delay_seconds": 2, "lease_seconds": 5}
    (tmp / "handoff.yaml").write_text(yaml.safe_dump(config))
    audit_key = os.environ.get("HANDOFF_AUDIT_KEY", "fault-harness-audit-key-" + "0" * 32)  # workers and we sign alike
    ctx = AppContext(engine, load_business_config(tmp / "handoff.yaml"), audit_keys=AuditKeys(AuditKey.of(audit_key)))
    ledger = Ledger(args.fail_rate, random.Random(args.seed + 1))
    stand_in = accounting_stand_in(ledger)
    smtp_port = free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "HANDOFF_DATABASE_URL": url,
        "HANDOFF_CONFIG": str(tmp / "handoff.yaml"),
        "HANDOFF_NOTICE_LOG": str(tmp / "log"),
        "HANDOFF_SMTP_PORT": str(smtp_port),
        "HANDOFF_ACCOUNTING_REST_URL": f"http://127.0.0.1:{stand_in.server_address[1]}",
        "HANDOFF_AUDIT_KEY": audit_key,
    }

    logs = []

    def start(i: int) -> subprocess.Popen[bytes]:
        logs.append(open(tmp / f"w{i}.err", "ab"))  # noqa: SIM115 (closed when the run ends)
        return subprocess.Popen(
            [sys.executable, "-m", "handoff", "worker", "--interval", "0.1", "--id", f"w{i}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=logs[-1],
        )

    workers = [start(i) for i in range(args.workers)]
    events, final_ready = make_events(args.events, rng)
    feed = deliveries(events, rng)
    kills = 0
    started = time.monotonic()
    try:
        kill_at = sorted(rng.uniform(0, 1) for _ in range(args.kills))
        step = max(1, len(feed) // 100)
        for i in range(0, len(feed), step):
            receive(ctx, feed[i : i + step])
            while kill_at and kill_at[0] <= (i + step) / len(feed):
                kill_at.pop(0)
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                workers[victim] = start(victim)
                kills += 1
            time.sleep(0.02)
        while kills < args.kills:  # kills left over: during the tail of the work
            victim = rng.randrange(len(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            workers[victim] = start(victim)
            kills += 1
            time.sleep(0.3)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                busy = conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM inbox WHERE status = 'pending')"
                        " + (SELECT count(*) FROM invoices WHERE status = 'draft')"
                        " + (SELECT count(*) FROM outbox WHERE status = 'pending')"
                    )
                ).scalar_one()
            if busy == 0:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(20)
        smtp.stop()
        stand_in.shutdown()
        stand_in.server_close()
        for log in logs:
            log.close()
    result = check(ctx, events, final_ready, ledger)
    result.update(
        events=len(events), deliveries=len(feed), workers=args.workers, kills=kills, seconds=round(elapsed, 1)
    )
    for key, value in result.items():
        print(f"{key:28} {value}")
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    failures = [k for k, v in result.items() if k.startswith("ok_") and v is not True]
    assert not failures, f"harness checks failed: {failures}"
    return result


def check(ctx: AppContext, events: list[DealEvent], final_ready: dict[str, bool], ledger: Ledger) -> dict[str, Any]:
    o, inv, ob, inbox = schema.orders, schema.invoices, schema.outbox, schema.inbox
    with ctx.engine.connect() as conn:
        states = dict(conn.execute(select(o.c.deal_id, o.c.state)).all())
        invoices = conn.execute(select(inv.c.number, inv.c.status, inv.c.legal_entity)).all()
        links = schema.invoice_orders
        per_order = conn.execute(
            select(func.count()).select_from(links).group_by(links.c.order_id).having(func.count() > 1)
        ).all()
        outbox = Counter(dict(conn.execute(select(ob.c.status, func.count()).group_by(ob.c.status)).all()))
        dead_without_reason = conn.execute(
            select(func.count()).select_from(ob).where(ob.c.status == "dead", ob.c.last_error.is_(None))
        ).scalar_one()
        stored_events = conn.execute(select(func.count()).select_from(inbox)).scalar_one()
        failed_events = conn.execute(
            select(func.count()).select_from(inbox).where(inbox.c.status == "failed")
        ).scalar_one()
    ready = {d for d, r in final_ready.items() if r}
    wrong_state = [d for d, s in states.items() if (s == "sent") != (d in ready)]
    issued = [i.number for i in invoices if i.status == "issued"]
    gapless = all(
        sorted(int(n.rsplit("-", 1)[1]) for n in issued if f"-{prefix}-" in n)
        == list(range(1, 1 + sum(f"-{prefix}-" in n for n in issued)))
        for prefix in ("DE", "US")
    )
    pushed_twice = [n for n, c in ledger.stored.items() if c > 1]
    count, broken = verify(ctx)
    return {
        "deals": len(final_ready),
        "orders": len(states),
        "ready_deals": len(ready),
        "invoices_issued": len(issued),
        "stand_in_invoices": len(ledger.stored),
        "stand_in_calls": ledger.calls,
        "stand_in_failures": ledger.failed,
        "outbox": dict(outbox),
        "audit_entries": count,
        "failed_events": failed_events,
        "ok_every_deal_once": len(states) == len(final_ready) and stored_events == len(events),
        "ok_states_follow_newest_version": not wrong_state,
        "ok_one_invoice_per_ready_deal": len(issued) == len(ready) and not per_order,
        "ok_numbers_gapless": gapless,
        "ok_each_invoice_once_in_accounting": set(ledger.stored) == set(issued) and not pushed_twice,
        "ok_no_outbox_row_lost": outbox.get("pending", 0) == 0 and dead_without_reason == 0,
        "ok_audit_chain_verifies": broken is None,
        "ok_no_failed_events": failed_events == 0,
    }


if __name__ == "__main__":
    main()
