"""Webhook load on loopback: acknowledgement latency at a fixed arrival rate, and the time from
event to decision (ready or exception).

    python bench/bench_webhook_load.py                       # SQLite, processing in the API process
    python bench/bench_webhook_load.py --pg --workers 2      # PostgreSQL, two `handoff worker`s

Starts `handoff serve` (and workers) as real processes, sends deal events open-loop at `--rate`
per second for `--seconds` (requests are sent on schedule whether or not earlier ones have been
answered), then waits until every event is decided. Acknowledgement latency is measured by the
client; decision latency is `processed_at - received_at` of each inbox row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine, select, text

from handoff.demo.generate import deals
from handoff.kernel.storage import schema
from handoff.kernel.storage.db import make_engine, upgrade

SRC = Path(__file__).resolve().parents[1] / "src"
PG_ADMIN = os.environ.get("HANDOFF_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _exchange(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes) -> int:
    """One request on a kept-alive connection; the response's status code."""
    reader, writer = conn
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for header in head.split(b"\r\n"):
        if header[:15].lower() == b"content-length:":
            length = int(header[15:])
    await reader.readexactly(length)
    return int(head[9:12])


TOKEN = "bench-webhook-token-0123456789abcdef"  # `handoff serve` refuses to start without one


def post(path: str, body: bytes, token: bool = True, host: str = "127.0.0.1") -> bytes:
    """A prepared HTTP/1.1 POST of a JSON body, with the webhook token unless `token` is False."""
    auth = f"X-Handoff-Token: {TOKEN}\r\n" if token else ""
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{auth}"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


async def paced(
    port: int, requests: list[bytes], rate: float, host: str = "127.0.0.1"
) -> tuple[list[int], list[float]]:
    """Open loop: request i is due at start + i / rate, whether or not earlier ones were answered,
    and its latency counts from that moment. The client writes prepared HTTP/1.1 requests on
    kept-alive connections (a new one whenever all are busy): a general-purpose HTTP client costs
    more CPU per request than the server's acknowledgement and would measure itself. Returns each
    request's status (0: no answer) and the latencies (ms) of those answered."""
    statuses = [0] * len(requests)
    latencies: list[float] = []
    idle: list[tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter], float]] = []

    async def connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while idle:
            conn, last_used = idle.pop()
            if time.perf_counter() - last_used < 4:  # the server closes a keep-alive connection idle 5 s
                return conn
            conn[1].close()
        return await asyncio.open_connection(host, port)

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


@dataclass
class Site:
    """A running `handoff serve` (and its workers) on a fresh database, for the webhook benchmarks."""

    url: str
    engine: Engine
    port: int
    procs: list[subprocess.Popen[bytes]]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_decided(self, seconds: float) -> None:
        """Until no inbox event is pending, or `seconds` have passed."""
        deadline = time.monotonic() + seconds
        inbox = schema.inbox
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                pending = conn.execute(select(inbox.c.id).where(inbox.c.status == "pending").limit(1)).first()
            if pending is None:
                return
            time.sleep(0.2)


@contextmanager
def site(pg: bool, workers: int, name: str, server_log: Path | None = None, start_tries: int = 200) -> Iterator[Site]:
    """A fresh database (SQLite in a temporary folder, or a new PostgreSQL database dropped at the
    end), `handoff serve` on a free port with the webhook token (its output to `server_log`, else
    discarded) and `workers` worker processes, answering its health check before this yields."""
    tmp = tempfile.mkdtemp()
    pg_name = None
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    if pg:
        pg_name = f"handoff_{name}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{pg_name}"
    else:
        url = f"sqlite:///{tmp}/{name}.db"
    engine = make_engine(url)
    upgrade(engine)
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "HANDOFF_PROCESS_INLINE": "0" if workers else "1",
        "HANDOFF_NOTICE_LOG": f"{tmp}/notices.log",
        "HANDOFF_WEBHOOK_TOKEN": TOKEN,
        "HANDOFF_AUDIT_KEY": os.environ.get("HANDOFF_AUDIT_KEY", "bench-audit-key-" + "0" * 32),
    }
    port = free_port()
    with server_log.open("w") if server_log else open(os.devnull, "w") as log:
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
        for i in range(workers)
    ]
    running = Site(url, engine, port, procs)
    try:
        for _ in range(start_tries):
            try:
                if httpx.get(f"{running.base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if procs[0].poll() is not None:
                    said = server_log.read_text(errors="replace") if server_log else ""
                    raise SystemExit(f"handoff serve ended:\n{said}") from None
                time.sleep(0.1)
        yield running
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        engine.dispose()
        if pg_name:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--workers", type=int, default=0, help="separate worker processes (0: API applies events)")
    args = parser.parse_args()
    path = "/api/v1/webhooks/deals/crm"
    requests = [
        post(path, json.dumps({"event_id": f"evt-{uuid.uuid4()}", "deal": d}).encode())
        for d in deals(int(args.rate * args.seconds), seed=11)
    ]
    with site(args.pg, args.workers, "load") as running:
        statuses, latencies = asyncio.run(paced(running.port, requests, args.rate))
        errors = sum(1 for status in statuses if status != 202)
        running.wait_decided(120)
        inbox = schema.inbox
        with running.engine.connect() as conn:
            rows = conn.execute(
                select(inbox.c.received_at, inbox.c.processed_at).where(inbox.c.processed_at.is_not(None))
            ).all()
        decision = [(r.processed_at - r.received_at).total_seconds() * 1000 for r in rows]
        where = f"{'PostgreSQL' if args.pg else 'SQLite'}, {args.workers or 'API'} worker(s)"
        print(f"{len(latencies)} events at {args.rate:.0f}/s on {where}; {errors} errors")
        print(
            f"ack latency ms:      p50 {pct(latencies, 50):6.1f}  p99 {pct(latencies, 99):6.1f}  "
            f"max {max(latencies):6.1f}  mean {statistics.fmean(latencies):6.1f}"
        )
        print(
            f"event->decision ms:  p50 {pct(decision, 50):6.1f}  p99 {pct(decision, 99):6.1f}  "
            f"max {max(decision):6.1f}  ({len(decision)} decided)"
        )


if __name__ == "__main__":
    main()
