"""Usage API on loopback: acknowledgement latency of single-event `POST /api/v1/usage` at a fixed rate.

    python bench/bench_usage_api.py [--rate 500] [--seconds 20] [--subscriptions 100] [--pg]

Starts `handoff serve` as a real process on a fresh database (as `bench_webhook_load.py` does, whose
`site` and open-loop pacing this reuses), locks S usage contracts and defines their metrics, adds a
finance user with an API token, then sends one usage event per request at `--rate` per second for
`--seconds` (each request due at start + i / rate whether or not earlier ones were answered; its
latency counts from that moment), with the token as `Authorization: Bearer`. Prints the
acknowledgement latency (p50, p99, max) and the errors (any answer but 200, or none), asserted 0,
and checks that every event was stored once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import time
from datetime import UTC, date, datetime
from pathlib import Path

from bench_usage_ingest import ACTOR, define_metrics, seed_contracts  # the script's folder
from bench_webhook_load import paced, pct, site
from sqlalchemy import func, select

from handoff.config import load_business_config
from handoff.context import AppContext
from handoff.kernel.audit import AuditKey, AuditKeys
from handoff.kernel.storage import schema
from handoff.users import service as users
from handoff.users.service import Role

FINANCE = "usage-feed@acme.example"
REGIONS = ("eu-central", "us-east", "ap-south")


def request(token: str, body: bytes) -> bytes:
    """A prepared HTTP/1.1 POST of a usage event with the bearer token."""
    head = (
        "POST /api/v1/usage HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def bodies(subscriptions: list[str], count: int, at: datetime) -> list[bytes]:
    """`count` single events, round robin over the subscriptions: API calls, transfers by region, users."""
    stamp = at.isoformat()
    out = []
    for n in range(count):
        kind = n % 4
        event: dict[str, object] = {
            "transaction_id": f"api-{n}",
            "subscription": subscriptions[n % len(subscriptions)],
            "timestamp": stamp,
        }
        if kind < 2:
            event["metric"] = "api_calls"
        elif kind == 2:
            event |= {"metric": "data_gb", "properties": {"region": REGIONS[n % 3], "gb": f"{n % 500 / 100:.2f}"}}
        else:
            event |= {"metric": "active_users", "properties": {"user": f"user-{n % 200:03d}"}}
        out.append(json.dumps(event).encode())
    return out


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """End the server (given a minute to finish what it was answering; killed after)."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--log", type=Path, default=None, help="write the server's output to this file")
    args = parser.parse_args()
    with site(args.pg, 0, "usage", server_log=args.log) as running:
        keys = AuditKeys(AuditKey.of(os.environ.get("HANDOFF_AUDIT_KEY", "bench-audit-key-" + "0" * 32)))
        ctx = AppContext(running.engine, load_business_config(), audit_keys=keys)  # the server's chain key
        now = ctx.clock()
        define_metrics(ctx)
        subscriptions = seed_contracts(ctx, args.subscriptions, start=date(now.year, now.month, 1))
        user = users.add_user(ctx, FINANCE, Role.FINANCE, "usage-feed-password-long", actor=ACTOR)
        token, _ = users.create_token(ctx, user, "usage feed", actor=ACTOR)
        count = int(args.rate * args.seconds)
        requests = [request(token, body) for body in bodies(subscriptions, count, datetime.now(UTC))]
        statuses, latencies = asyncio.run(paced(running.port, requests, args.rate))
        errors = sum(1 for status in statuses if status != 200)
        time.sleep(0.5)
        with running.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(schema.usage_events)).scalar_one()
        where = "PostgreSQL" if args.pg else "SQLite"
        print(f"{len(latencies):,} single usage events at {args.rate:.0f}/s on {where}; {errors} errors")
        if latencies:
            print(
                f"ack latency ms:  p50 {pct(latencies, 50):6.1f}  p99 {pct(latencies, 99):6.1f}  "
                f"max {max(latencies):6.1f}  mean {statistics.fmean(latencies):6.1f}"
            )
        print(f"stored: {stored:,} raw events of {count:,} sent")
        _stop(running.procs)
        assert errors == 0, f"{errors} requests not answered 200: {sorted(set(statuses) - {200})}"
        assert stored == count, (stored, count)


if __name__ == "__main__":
    main()
