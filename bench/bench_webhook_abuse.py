"""Webhook abuse under load: valid deal events mixed with malformed and poisoned ones, on loopback.

    python bench/bench_webhook_abuse.py                       # SQLite, 200/s for 20 s, 5 % bad
    python bench/bench_webhook_abuse.py --pg --workers 2      # PostgreSQL, two `handoff worker`s

Starts `handoff serve` (with a webhook token) as a real process, stores a few seed events, then
sends deal webhooks open-loop at `--rate` per second for `--seconds`, a `--bad` share of them bad
(cycling through `BAD`: text no database stores, values longer than their columns, a time in the
future, broken or deeply nested JSON, a reused event id with another deal, no token). Bad requests
share group commits with good ones. Asserts that every valid event was answered 202 and stored,
every bad one answered its 4xx and not stored, no 5xx and no server traceback; then that every
stored event was decided. Prints the counts per kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from bench_webhook_load import PG_ADMIN, SRC, TOKEN, _exchange, free_port, pct
from sqlalchemy import create_engine, select, text

from handoff.demo.generate import deals
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import make_engine, upgrade

PATH = "/api/v1/webhooks/deals/crm"
SEEDS = 10


def _body(event_id: str, deal: dict[str, Any], **envelope: Any) -> bytes:
    return json.dumps({"event_id": event_id, "deal": deal, **envelope}).encode()


# kind -> (expected status, body from a fresh deal and its event id); `no token` also drops the header
BAD: dict[str, tuple[int, Callable[[str, dict[str, Any]], bytes]]] = {
    "lone surrogate": (422, lambda i, d: _body(i, {**d, "deal_name": "\ud800"})),
    "surrogate field name": (422, lambda i, d: _body(i, {**d, "note\udfff": "x"})),
    "NUL in a value": (422, lambda i, d: _body(i, {**d, "po_number": "PO\x001"})),
    "over-long name": (422, lambda i, d: _body(i, {**d, "customer_legal_name": "K" * 301})),
    "over-long deal id": (422, lambda i, d: _body(i, {**d, "deal_id": "D" * 101})),
    "future time": (422, lambda i, d: _body(i, d, occurred_at="2099-01-01T00:00:00Z")),
    "unreadable time": (422, lambda i, d: _body(i, d, occurred_at="yesterday")),
    "nested JSON": (400, lambda i, d: b"[" * 20_000 + b"]" * 20_000),
    "not JSON": (400, lambda i, d: b'{"event_id": "' + i.encode() + b'", "deal": {'),
    "not an object": (422, lambda i, d: json.dumps([d]).encode()),
    "reused event id": (409, lambda i, d: b""),  # filled in with a seed's id and another deal
    "no token": (401, lambda i, d: _body(i, d)),
}


def request(body: bytes, token: bool = True) -> bytes:
    auth = f"X-Handoff-Token: {TOKEN}\r\n" if token else ""
    head = f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


async def send(port: int, requests: list[bytes], rate: float) -> tuple[list[int], list[float]]:
    """Open loop, as `bench_webhook_load.send_all`: request i is due at start + i / rate, on
    kept-alive connections (a new one whenever all are busy). Status 0: no answer."""
    statuses = [0] * len(requests)
    latencies: list[float] = []
    idle: list[tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter], float]] = []

    async def connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while idle:
            conn, last_used = idle.pop()
            if time.perf_counter() - last_used < 4:
                return conn
            conn[1].close()
        return await asyncio.open_connection("127.0.0.1", port)

    async def one(n: int, due: float) -> None:
        conn = await connection()
        try:
            statuses[n] = await asyncio.wait_for(_exchange(conn, requests[n]), timeout=10)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            conn[1].close()
            return
        latencies.append((time.perf_counter() - due) * 1000)
        idle.append((conn, time.perf_counter()))

    start = time.perf_counter()
    tasks = []
    for n in range(len(requests)):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, due)))
    await asyncio.gather(*tasks)
    for (_, writer), _ in idle:
        writer.close()
    return statuses, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--bad", type=float, default=0.05, help="share of malformed or poisoned requests")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--workers", type=int, default=0, help="separate worker processes (0: API applies events)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    pg_name = None
    if args.pg:
        pg_name = f"handoff_abuse_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{pg_name}"
    else:
        url = f"sqlite:///{tmp}/abuse.db"
    engine = make_engine(url)
    upgrade(engine)
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "HANDOFF_PROCESS_INLINE": "0" if args.workers else "1",
        "HANDOFF_NOTICE_LOG": f"{tmp}/notices.log",
        "HANDOFF_WEBHOOK_TOKEN": TOKEN,
        "HANDOFF_AUDIT_KEY": os.environ.get("HANDOFF_AUDIT_KEY", "bench-audit-key-" + "0" * 32),
    }
    port = free_port()
    server_log = Path(tmp) / "serve.log"
    with server_log.open("w") as log:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "handoff", "serve", "--db", url, "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        ]
    procs += [
        subprocess.Popen(
            [sys.executable, "-m", "handoff", "worker", "--db", url, "--interval", "0.05", "--id", f"w{i}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(args.workers)
    ]
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if procs[0].poll() is not None:
                    raise SystemExit(f"handoff serve ended:\n{server_log.read_text(errors='replace')}") from None
                time.sleep(0.1)
        total = int(args.rate * args.seconds)
        pool = list(deals(total + SEEDS, seed=13))
        seeds = [(f"seed-{n}", pool[n]) for n in range(SEEDS)]
        with httpx.Client(base_url=base, headers={"X-Handoff-Token": TOKEN}, timeout=10) as http:
            for event_id, deal in seeds:
                answer = http.post(PATH, content=_body(event_id, deal))
                assert answer.status_code == 202, answer.text
        kinds = list(BAD)
        every = max(1, round(1 / args.bad)) if args.bad > 0 else total + 1
        plan: list[tuple[str, str, int]] = []  # (kind or "valid", event id, expected status)
        requests = []
        for n in range(total):
            deal, event_id = pool[SEEDS + n], f"evt-{uuid.uuid4()}"
            if n % every == every // 2:
                kind = kinds[(n // every) % len(kinds)]
                expected, build = BAD[kind]
                if kind == "reused event id":
                    event_id, original = seeds[n % SEEDS]
                    body = _body(event_id, {**original, "amount": "1.00"})
                else:
                    body = build(event_id, deal)
                plan.append((kind, event_id, expected))
                requests.append(request(body, token=kind != "no token"))
            else:
                plan.append(("valid", event_id, 202))
                requests.append(request(_body(event_id, deal)))
        statuses, latencies = asyncio.run(send(port, requests, args.rate))

        deadline = time.monotonic() + 180
        inbox = schema.inbox
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                pending = conn.execute(select(inbox.c.id).where(inbox.c.status == "pending").limit(1)).first()
            if pending is None:
                break
            time.sleep(0.2)
        with engine.connect() as conn:
            rows = conn.execute(select(inbox.c.event_id, inbox.c.status, inbox.c.payload)).all()
        stored = {r.event_id: r for r in rows}

        outcome: Counter[tuple[str, int]] = Counter(
            (kind, status) for (kind, _, _), status in zip(plan, statuses, strict=True)
        )
        where = f"{'PostgreSQL' if args.pg else 'SQLite'}, {args.workers or 'API'} worker(s)"
        bad_sent = sum(1 for kind, _, _ in plan if kind != "valid")
        print(f"{total} requests at {args.rate:.0f}/s for {args.seconds:.0f} s on {where}; {bad_sent} bad")
        for kind in ["valid", *kinds]:
            answers = ", ".join(f"{n} x {s}" for (k, s), n in sorted(outcome.items()) if k == kind)
            print(f"  {kind:22} {answers}")
        print(
            f"ack latency ms:  p50 {pct(latencies, 50):6.1f}  p99 {pct(latencies, 99):6.1f}  max {max(latencies):6.1f}"
        )
        valid = [
            (event_id, status) for (kind, event_id, _), status in zip(plan, statuses, strict=True) if kind == "valid"
        ]
        wrong = [
            (kind, event_id, expected, status)
            for (kind, event_id, expected), status in zip(plan, statuses, strict=True)
            if status != expected
        ]
        server_errors = sum(1 for s in statuses if s >= 500 or s == 0)
        lost = [event_id for event_id, _ in valid if event_id not in stored]
        leaked = [
            event_id for kind, event_id, _ in plan if kind not in ("valid", "reused event id") and event_id in stored
        ]
        reused = [stored[event_id].payload["amount"] for event_id, _ in seeds]
        undecided = sum(1 for r in rows if r.status == "pending")
        tracebacks = server_log.read_text(errors="replace").count("Traceback")
        print(
            f"stored {len(rows)} ({len(valid)} valid + {SEEDS} seeds expected); valid lost {len(lost)}; "
            f"bad stored {len(leaked)}; wrong answers {len(wrong)}; 5xx or no answer {server_errors}; "
            f"server tracebacks {tracebacks}; undecided {undecided}"
        )
        assert not wrong, wrong[:10]
        assert server_errors == 0 and tracebacks == 0
        assert not lost and not leaked and len(rows) == len(valid) + SEEDS
        assert all(amount == original["amount"] for amount, (_, original) in zip(reused, seeds, strict=True))
        assert undecided == 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        engine.dispose()
        if pg_name:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
