"""Dunning over real SMTP (aiosmtpd on loopback): the right level, once, to the right people;
never for paid or disputed invoices or paused customers; a second run in a day sends nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from handoff.audit.service import verify
from handoff.cash.formats.payment_file import read_payment_file
from handoff.cash.service.payments import apply_payments
from handoff.collections.service import DunningError, pause_dunning, reminders_sent, run_dunning, set_dispute
from handoff.config import ConfigError, load_dunning_policy
from handoff.context import AppContext
from handoff.kernel.storage import schema
from handoff.notifications.channels.email import SmtpChannel
from handoff.notifications.channels.log import LogChannel
from handoff.worker.loop import DEFAULT_JOBS
from handoff.worker.outbox import deliver_due
from handoff.worker.scheduler import run_due
from tests.builders import by_deal, event, issued_invoices
from tests.conftest import Clock
from tests.integration.worker.test_outbox_smtp import Inbox, smtp  # noqa: F401  (the fixture)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DEALS = ["D-1", "D-2", "D-3", "D-4", "D-5"]  # late, paid, disputed, paused customer, partly paid


def issue(ctx: AppContext, tmp_path: Path) -> dict[str, str]:
    events = [
        event(
            f"e-{d}",
            T0,
            deal_id=d,
            customer_id=f"C-{d[2:]}",
            billing_email=f"ap@c{d[2:]}.example",
            owner_email=f"owner{d[2:]}@acme.example",
        )
        for d in DEALS
    ]
    issued = by_deal(issued_invoices(ctx, events, on=date(2026, 11, 2)))
    numbers = {deal: inv.number or "" for deal, inv in issued.items()}
    pay = tmp_path / "pay.csv"
    pay.write_text(
        f"invoice_number,amount,date\n{numbers['D-2']},14280.00,2026-11-20\n{numbers['D-5']},4280.00,2026-11-20\n"
    )
    apply_payments(ctx, read_payment_file(pay), "bank", "import")
    set_dispute(ctx, numbers["D-3"], "clerk@acme.example", "wrong licence count")
    pause_dunning(ctx, "C-4", "clerk@acme.example", reason="payment plan agreed")
    return numbers


def reminders(inbox: Inbox) -> list[tuple[list[str], Any]]:
    return [
        (sorted(r), m)
        for r, m in inbox.messages
        if "invoice" in m["Subject"].lower() and "[handoff]" not in m["Subject"]
    ]


def test_reminders_escalate_once_each_to_the_right_people(
    ctx: AppContext,
    clock: Clock,
    tmp_path: Path,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    numbers = issue(ctx, tmp_path)  # due 2026-12-02 (net 30)
    channels = {"email": SmtpChannel("127.0.0.1", port, "billing@acme.example"), "log": LogChannel(None)}
    deliver_due(ctx, channels)
    inbox.messages.clear()

    clock.now = datetime(2026, 12, 5, 9, tzinfo=UTC)  # overdue, but not yet 7 days
    assert run_dunning(ctx).letters == []

    clock.now = datetime(2026, 12, 9, 9, tzinfo=UTC)  # level 1: friendly, no copies
    job = [j for j in DEFAULT_JOBS if j.name == "daily_dunning"]  # the worker's daily job
    assert run_due(ctx, job, "w1") == [("daily_dunning", "2026-12-09")]
    assert run_due(ctx, job, "w2") == []  # once a day across workers
    assert run_dunning(ctx).letters == []  # and a second run by hand sends nothing new
    deliver_due(ctx, channels)
    sent = reminders(inbox)
    assert sorted(r for r, _ in sent) == [["ap@c1.example"], ["ap@c5.example"]]
    by_to = {m["To"]: m for _, m in sent}
    first = by_to["ap@c1.example"]
    assert first["Subject"] == f"Friendly reminder: invoice {numbers['D-1']} is past due" and first["Cc"] is None
    assert "14,280.00 EUR are still open" in first.get_content()
    assert "DE89370400440532013000" in first.get_content()  # how to pay
    assert "10,000.00 EUR are still open" in by_to["ap@c5.example"].get_content()  # the open rest only
    with ctx.engine.connect() as conn:  # the deal owner sees overdue and reminded (topic payment_status)
        status = [
            p["status"]
            for p in conn.execute(
                select(schema.outbox.c.payload).where(
                    schema.outbox.c.topic == "payment_status", schema.outbox.c.channel == "log"
                )
            ).scalars()
        ]
    d1 = {(s["state"], s.get("level")) for s in status if s["deal_id"] == "D-1"}
    assert d1 == {("overdue", None), ("reminded", 1)}
    assert not any(s["deal_id"] in ("D-2", "D-3", "D-4") for s in status if s["state"] == "reminded")
    assert {s["deal_id"] for s in status if s["state"] == "overdue"} == {"D-1", "D-3", "D-4", "D-5"}  # not paid D-2

    inbox.messages.clear()
    clock.now = datetime(2026, 12, 23, 9, tzinfo=UTC)  # level 2: firm, the account owner copied
    assert [(lt.reminder.invoice_number, lt.reminder.level) for lt in run_dunning(ctx).letters] == [
        (numbers["D-1"], 2),
        (numbers["D-5"], 2),
    ]
    deliver_due(ctx, channels)
    sent = reminders(inbox)
    assert sorted(r for r, _ in sent) == [
        ["ap@c1.example", "owner1@acme.example"],
        ["ap@c5.example", "owner5@acme.example"],
    ]
    firm = next(m for _, m in sent if m["To"] == "ap@c1.example")
    assert firm["Cc"] == "owner1@acme.example" and "(21 days)" in firm["Subject"]

    # dispute settled: D-3 joins, at level 1 (issue 16: levels go in order; this test expected level 3)
    set_dispute(ctx, numbers["D-3"], "clerk@acme.example", clear=True)
    pause_dunning(ctx, "C-5", "clerk@acme.example", until=date(2027, 1, 31))
    inbox.messages.clear()
    clock.now = datetime(2027, 1, 16, 9, tzinfo=UTC)  # level 3: final, owner and finance lead copied
    run_dunning(ctx)
    assert run_dunning(ctx).letters == []
    deliver_due(ctx, channels)
    sent = reminders(inbox)
    assert sorted(r for r, _ in sent) == [
        ["ap@c1.example", "finance-lead@acme.example", "owner1@acme.example"],
        ["ap@c3.example"],
    ]
    by_to = {m["To"]: m for _, m in sent}
    assert by_to["ap@c1.example"]["Subject"].startswith("Final notice")
    assert by_to["ap@c3.example"]["Subject"].startswith("Friendly reminder")

    log = reminders_sent(ctx)
    assert [(r["number"], r["level"]) for r in log] == [
        (numbers["D-1"], 1),
        (numbers["D-1"], 2),
        (numbers["D-1"], 3),
        (numbers["D-3"], 1),
        (numbers["D-5"], 1),
        (numbers["D-5"], 2),
    ]
    assert verify(ctx)[1] is None


def test_dry_run_sends_nothing_and_unknown_names_are_refused(ctx: AppContext, clock: Clock, tmp_path: Path) -> None:
    numbers = issue(ctx, tmp_path)
    clock.now = datetime(2026, 12, 9, 9, tzinfo=UTC)
    preview = run_dunning(ctx, dry_run=True)
    assert [lt.reminder.invoice_number for lt in preview.letters] == [numbers["D-1"], numbers["D-5"]]
    assert reminders_sent(ctx) == [] and len(run_dunning(ctx).letters) == 2
    with pytest.raises(DunningError, match="no invoice numbered"):
        set_dispute(ctx, "INV-XX-1", "clerk@acme.example")
    with pytest.raises(DunningError, match="no invoice for customer"):
        pause_dunning(ctx, "C-404", "clerk@acme.example")


def test_dunning_policy_file_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "dunning.yaml"
    bad.write_text("levels:\n  - {level: 1, days_after_due: 7, tone: friendly, copy_to: [ceo]}\n")
    with pytest.raises(ConfigError, match="unknown role 'ceo'"):
        load_dunning_policy(bad)
    bad.write_text("levels:\n  - {level: 1, days_after_due: 7, tone: shouty}\n")
    with pytest.raises(ConfigError, match="tone 'shouty'"):
        load_dunning_policy(bad)
