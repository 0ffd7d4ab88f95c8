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
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from bench_webhook_load import TOKEN, paced, pct, post, site
from sqlalchemy import select

from handoff.demo.generate import deals
from handoff.kernel.storage import schema

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--bad", type=float, default=0.05, help="share of malformed or poisoned requests")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--workers", type=int, default=0, help="separate worker processes (0: API applies events)")
    args = parser.parse_args()
    server_log = Path(tempfile.mkdtemp()) / "serve.log"
    with site(args.pg, args.workers, "abuse", server_log, start_tries=600) as running:
        engine, base, port = running.engine, running.base, running.port
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
                requests.append(post(PATH, body, token=kind != "no token"))
            else:
                plan.append(("valid", event_id, 202))
                requests.append(post(PATH, _body(event_id, deal)))
        statuses, latencies = asyncio.run(paced(port, requests, args.rate))

        running.wait_decided(180)
        inbox = schema.inbox
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


if __name__ == "__main__":
    main()
