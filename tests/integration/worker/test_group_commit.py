"""Group commit: events submitted together share one transaction, and an event the database refuses
(one that slipped past the webhook's checks) fails alone: the group is retried without it, so the
others are stored and acknowledged. Each request hears whether its event was stored, a redelivery
of what the inbox holds, or a different payload under an event id already used."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service.admission import Receipt, receive_each
from handoff.kernel.storage import schema
from handoff.worker.group_commit import GroupCommitter
from tests.builders import event
from tests.conftest import Clock


async def _submit_together(committer: GroupCommitter, events: Sequence[DealEvent]) -> list[Receipt | BaseException]:
    """Every event queued before the committer takes its first group: they form one group."""
    try:
        return await asyncio.gather(*(committer.submit(e) for e in events), return_exceptions=True)
    finally:
        await committer.close()


def test_an_event_the_database_refuses_fails_alone(ctx: AppContext, clock: Clock) -> None:
    at = clock.now - timedelta(hours=1)
    good = [event(f"good-{n}", at, deal_id=f"D-{n}") for n in range(60)]
    # not checked by a webhook here: the database (or its driver) refuses these
    bad = [event(f"bad-{n}", at, deal_id=f"D-bad-{n}", deal_name="\ud800") for n in range(3)]
    if ctx.engine.dialect.name == "postgresql":
        bad += [event("bad-nul", at, deal_id="D-nul", deal_name="a\x00b"), event("bad-long", at, source="s" * 331)]
    events = good[:20] + bad[:2] + good[20:45] + bad[2:] + good[45:]
    committer = GroupCommitter(ctx)
    results = asyncio.run(_submit_together(committer, events))
    outcome = dict(zip((e.event_id for e in events), results, strict=True))
    assert all(outcome[e.event_id] is Receipt.ACCEPTED for e in good), outcome
    assert all(isinstance(outcome[e.event_id], Exception) for e in bad)
    with ctx.engine.connect() as conn:
        stored = set(conn.execute(select(schema.inbox.c.event_id)).scalars())
    assert stored == {e.event_id for e in good}


def test_a_database_outage_is_not_bisected(ctx: AppContext, clock: Clock) -> None:
    calls: list[int] = []

    class Down(Exception):
        pass

    def store(ctx: AppContext, events: Sequence[DealEvent]) -> list[Receipt]:
        calls.append(len(events))
        raise Down("connection refused")

    committer = GroupCommitter(ctx, store=store, transient=lambda exc: isinstance(exc, Down))
    results = asyncio.run(_submit_together(committer, [event(f"e{n}", clock.now) for n in range(16)]))
    assert all(isinstance(r, Down) for r in results)
    assert calls == [16]  # one attempt for the group: every request hears of the outage at once


def test_bisection_finds_the_one_bad_event_among_many(ctx: AppContext, clock: Clock) -> None:
    calls: list[int] = []

    def store(ctx: AppContext, events: Sequence[DealEvent]) -> list[Receipt]:
        calls.append(len(events))
        if any(e.event_id == "poison" for e in events):
            raise ValueError("refused by the database")
        return [Receipt.ACCEPTED] * len(events)

    events = [event(f"e{n}", clock.now) for n in range(63)]
    events.insert(40, event("poison", clock.now))
    committer = GroupCommitter(ctx, store=store)
    results = asyncio.run(_submit_together(committer, events))
    assert [r for r in results if isinstance(r, Exception)] == [results[40]]
    assert results.count(Receipt.ACCEPTED) == 63
    assert len(calls) <= 2 * 7 + 1  # log2(64) levels, two halves each: not one attempt per event


def test_each_event_hears_its_own_outcome(ctx: AppContext, clock: Clock) -> None:
    at = clock.now
    stored = event("e-1", at)
    assert receive_each(ctx, [stored]) == [Receipt.ACCEPTED]
    again = [event("e-1", at), event("e-1", at, amount="1.00"), event("e-2", at), event("e-2", at, amount="2.00")]
    assert receive_each(ctx, again) == [Receipt.DUPLICATE, Receipt.CONFLICT, Receipt.ACCEPTED, Receipt.CONFLICT]
    assert receive_each(ctx, [event("e-1", at, source="other")]) == [Receipt.ACCEPTED]


@pytest.mark.parametrize("size", [1, 2])
def test_a_small_group_that_fails_reports_its_error(ctx: AppContext, clock: Clock, size: int) -> None:
    def store(ctx: AppContext, events: Sequence[DealEvent]) -> list[Receipt]:
        raise ValueError("refused")

    committer = GroupCommitter(ctx, store=store)
    results = asyncio.run(_submit_together(committer, [event(f"e{n}", clock.now) for n in range(size)]))
    assert all(isinstance(r, ValueError) for r in results)
