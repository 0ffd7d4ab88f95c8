"""Outbox delivery over real SMTP (aiosmtpd on loopback): delivered once, retried with backoff
while the server is down, dead-lettered after the last attempt, replayable."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.kernel.storage import schema
from handoff.notifications.channels.email import SmtpChannel
from handoff.notifications.channels.log import LogChannel
from handoff.worker.outbox import backoff, claim, dead_letters, deliver_claimed, deliver_due, replay
from tests.builders import event, owner_user
from tests.conftest import Clock

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


def test_notices_reach_owner_and_finance_by_smtp(ctx: AppContext, smtp: tuple[Inbox, int], tmp_path) -> None:  # type: ignore[no-untyped-def]
    inbox, port = smtp
    owner_user(ctx)
    ingest(ctx, [event("e1", T0, deal_id="D-1", po_number=""), event("e2", T0, deal_id="D-2")])
    channels = {"email": SmtpChannel("127.0.0.1", port, "handoff@test"), "log": LogChannel(tmp_path / "n.log")}
    report = deliver_due(ctx, channels)
    assert report.delivered == 4 and report.dead == 0  # e-mail + log line for each of two notices
    by_rcpt = {tuple(rcpts): msg for rcpts, msg in inbox.messages}
    blocked = by_rcpt[("anna@acme.example",)]
    assert "D-1 cannot be invoiced" in blocked["Subject"]
    assert "po_number" in blocked.get_content()
    assert "D-2 is ready to invoice" in by_rcpt[("finance@acme.example",)]["Subject"]
    assert len((tmp_path / "n.log").read_text().splitlines()) == 2
    assert deliver_due(ctx, channels).delivered == 0  # nothing is sent twice
    assert len(inbox.messages) == 2


def test_server_down_retries_with_backoff_then_dead_letter_and_replay(
    ctx: AppContext, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    ingest(ctx, [event("e1", T0, deal_id="D-2")])
    down = {"email": SmtpChannel("127.0.0.1", free_port(), "handoff@test", timeout=2), "log": LogChannel(None)}
    first = deliver_due(ctx, down)
    assert (first.retried, first.delivered) == (1, 1)  # e-mail failed, log line went out
    with ctx.engine.connect() as conn:
        row = conn.execute(select(schema.outbox).where(schema.outbox.c.channel == "email")).one()
    assert row.attempts == 1 and "unreachable" in row.last_error
    wait = (row.next_attempt_at - clock.now).total_seconds()
    assert 15 <= wait <= 30  # base 30 s with equal jitter
    assert deliver_due(ctx, down).retried == 0  # not due yet
    for _ in range(ctx.config.model.outbox.max_attempts - 1):
        clock.advance(hours=2)
        deliver_due(ctx, down)
    [dead] = dead_letters(ctx)
    assert dead["attempts"] == ctx.config.model.outbox.max_attempts and "unreachable" in dead["last_error"]
    assert replay(ctx, dead["id"], "ops@test")
    up = {"email": SmtpChannel("127.0.0.1", port, "handoff@test"), "log": LogChannel(None)}
    assert deliver_due(ctx, up).delivered == 1
    assert len(inbox.messages) == 1 and dead_letters(ctx) == []


def test_backoff_grows_exponentially_and_is_capped() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff(n, 30, 3600, rng) for n in range(1, 10)]
    for n, d in enumerate(delays, start=1):
        full = min(3600, 30 * 2 ** (n - 1))
        assert full / 2 <= d <= full
    assert delays[-1] <= 3600


class SlowSmtp(SmtpChannel):
    """Real SMTP delivery during which the lease runs out and another worker runs its pass."""

    def __init__(self, port: int, ctx: AppContext, clock: Clock, others: dict[str, Any]) -> None:
        super().__init__("127.0.0.1", port, "handoff@test")
        self.ctx, self.clock, self.others = ctx, clock, others
        self.rival: list[Any] = []

    def deliver(self, key: str, payload: Any) -> None:
        if not self.rival:
            self.clock.advance(seconds=self.ctx.config.model.outbox.lease_seconds + 1)
            self.rival.append(deliver_due(self.ctx, self.others, "w2"))
        super().deliver(key, payload)


def test_a_lease_run_out_mid_delivery_does_not_deliver_twice(
    ctx: AppContext, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("SQLite workers share one machine; there the lease, renewed per row, is the guard")
    inbox, port = smtp
    ingest(ctx, [event("e1", T0, deal_id="D-1", po_number="")])  # one e-mail to the owner
    slow = SlowSmtp(port, ctx, clock, {"email": SmtpChannel("127.0.0.1", port, "handoff@test")})
    first = deliver_due(ctx, {"email": slow}, "w1")
    # the rival claims the expired row but cannot take it while w1 delivers; w1 records the outcome
    assert (first.delivered, slow.rival[0].delivered) == (1, 0)
    assert len(inbox.messages) == 1
    with ctx.engine.connect() as conn:
        assert conn.execute(select(schema.outbox.c.status).where(schema.outbox.c.channel == "email")).scalar() == (
            "delivered"
        )


def test_rows_late_in_a_batch_are_not_delivered_twice(ctx: AppContext, clock: Clock, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    ingest(ctx, [event(f"e{i}", T0, deal_id=f"D-{i}", po_number="") for i in range(3)])
    channels = {"email": SmtpChannel("127.0.0.1", port, "handoff@test")}
    stalled = [r for r in claim(ctx, "w1", 10) if r.channel == "email"]  # w1 claims, then stalls past its lease
    clock.advance(seconds=ctx.config.model.outbox.lease_seconds + 1)
    assert deliver_due(ctx, channels, "w2").delivered == 3  # w2 takes the expired rows over
    assert deliver_claimed(ctx, stalled, channels).delivered == 0  # w1 wakes up: nothing left for it
    assert len(inbox.messages) == 3
