"""Issue 16 on both engines: a late start of dunning sends level 1 first and climbs one level per
`min_days_between` (item 3), and reminders go to the billing contact the invoice was issued to, not to
whatever the customer record says later (item 2)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from handoff.collections.service import reminders_sent, run_dunning
from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.kernel.storage import schema
from tests.builders import by_deal, event, issued_invoices
from tests.conftest import Clock

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DUE = date(2026, 12, 2)  # issued 2026-11-02, net 30


def issue(ctx: AppContext, deals: list[str]) -> dict[str, str]:
    events = [
        event(f"e-{d}", T0, deal_id=d, customer_id=f"C-{d[2:]}", billing_email=f"ap@c{d[2:]}.example") for d in deals
    ]
    issued = by_deal(issued_invoices(ctx, events, on=date(2026, 11, 2)))
    assert all(inv.due_date == DUE for inv in issued.values())
    return {deal: inv.number or "" for deal, inv in issued.items()}


def at(clock: Clock, day: date) -> None:
    clock.now = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)


def dunning_mail(ctx: AppContext) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        q = select(schema.outbox.c.payload).where(schema.outbox.c.topic == "dunning").order_by(schema.outbox.c.id)
        return list(conn.execute(q).scalars())


def test_a_late_start_sends_level_one_first_then_one_level_per_gap(ctx: AppContext, clock: Clock) -> None:
    numbers = issue(ctx, ["D-1", "D-2"])
    gap = timedelta(days=ctx.config.dunning.min_days_between)
    start = DUE + timedelta(days=90)  # dunning starts late: every level's days after due are long reached

    at(clock, start)
    first = run_dunning(ctx).letters
    assert [(lt.reminder.invoice_number, lt.reminder.level) for lt in first] == [
        (numbers["D-1"], 1),
        (numbers["D-2"], 1),
    ]
    assert all(lt.subject.startswith("Friendly reminder") and lt.cc == () for lt in first)
    assert not any("earlier reminder" in m["text"] for m in dunning_mail(ctx))

    for day in range(1, gap.days):  # nothing more until the gap has passed
        at(clock, start + timedelta(days=day))
        assert run_dunning(ctx).letters == [], day

    at(clock, start + gap)
    assert {(lt.reminder.level, lt.reminder.tone.value) for lt in run_dunning(ctx).letters} == {(2, "firm")}
    at(clock, start + 2 * gap - timedelta(days=1))
    assert run_dunning(ctx).letters == []
    at(clock, start + 2 * gap)
    assert {(lt.reminder.level, lt.reminder.tone.value) for lt in run_dunning(ctx).letters} == {(3, "final")}
    at(clock, start + 10 * gap)
    assert run_dunning(ctx).letters == []  # nothing beyond the last level

    sent = [(r["number"], r["level"], r["sent_on"]) for r in reminders_sent(ctx)]
    assert sent == [(numbers[d], level, start + (level - 1) * gap) for d in ("D-1", "D-2") for level in (1, 2, 3)]


def test_reminders_go_to_the_contact_the_invoice_was_issued_to(ctx: AppContext, clock: Clock) -> None:
    numbers = issue(ctx, ["D-1"])
    # later, the same customer closes another deal with a new billing contact: the customer record follows it
    ingest(
        ctx, [event("e-D-9", T0 + timedelta(days=20), deal_id="D-9", customer_id="C-1", billing_email="new@c1.example")]
    )
    with ctx.engine.connect() as conn:
        now_on_record = conn.execute(
            select(schema.customers.c.billing_email).where(schema.customers.c.customer_id == "C-1")
        ).scalar_one()
    assert now_on_record == "new@c1.example"

    at(clock, DUE + timedelta(days=7))
    (letter,) = run_dunning(ctx).letters
    assert letter.reminder.invoice_number == numbers["D-1"]
    assert letter.to == ("ap@c1.example",)
    (mail,) = dunning_mail(ctx)
    assert mail["to"] == ["ap@c1.example"]
    (logged,) = reminders_sent(ctx)
    assert logged["recipients"]["to"] == ["ap@c1.example"]
