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

from handoff.app.context import AppContext
from handoff.app.intake import ingest
from handoff.connectors.notify.email import SmtpChannel
from handoff.connectors.notify.log import LogChannel
from handoff.store import schema
from handoff.worker.outbox import backoff, dead_letters, deliver_due, replay
from tests.conftest import Clock
from tests.helpers import event

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


def test_server_down_retries_with_backoff_then_dead_letter_and_replay(ctx: AppContext, clock: Clock,
                                                                       smtp: tuple[Inbox, int]) -> None:  # fmt: skip
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
