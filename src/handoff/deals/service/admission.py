"""Admitting deal events one by one, as webhooks and file imports receive them.

`check` says why an event cannot enter the inbox (text or lengths the database refuses, a time
too far ahead of the clock; `deals.domain.admission`), so that an adapter refuses it alone, before
it shares a transaction with anyone else's event. `receive_each` stores events like
`intake.receive` and tells each sender its own outcome: stored now, a redelivery of what the inbox
holds (same event id, same deal), or a conflict (same event id, another deal: refused, as a payment
API refuses a reused idempotency key with other parameters). `transient` tells a database that
could not be reached from one that refused what it was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from handoff.context import AppContext
from handoff.deals.domain.admission import LIMITS, Refusal, ahead_of_clock, printable, refusal
from handoff.deals.domain.orders import DealEvent
from handoff.deals.repository import TRANSIENT_ERRORS
from handoff.deals.repository.inbox import Inbox
from handoff.deals.service.intake import dedupe

__all__ = [
    "LIMITS",
    "Receipt",
    "Refusal",
    "check",
    "future_tolerance",
    "printable",
    "receive_each",
    "refusal",
    "too_far_ahead",
    "transient",
]


class Receipt(StrEnum):
    """What became of one delivered event."""

    ACCEPTED = "accepted"  # stored now
    DUPLICATE = "duplicate"  # a redelivery: the inbox holds this event id with the same deal
    CONFLICT = "conflict"  # the inbox holds this event id with another deal: not stored


def future_tolerance(ctx: AppContext) -> timedelta:
    return timedelta(seconds=ctx.config.model.intake.future_tolerance_seconds)


def too_far_ahead(ctx: AppContext, at: datetime, field: str = "occurred_at") -> Refusal | None:
    """A refusal when `at` is further ahead of the clock than the configured tolerance."""
    return ahead_of_clock(at, ctx.clock(), future_tolerance(ctx), field)


def check(ctx: AppContext, event: DealEvent, time_field: str = "occurred_at") -> Refusal | None:
    """Why the inbox cannot take `event`, or None. `time_field`: what the sender calls its time."""
    return refusal(event) or too_far_ahead(ctx, event.occurred_at, time_field)


def receive_each(ctx: AppContext, events: Sequence[DealEvent]) -> list[Receipt]:
    """Store the events not stored yet, all or nothing; each event's outcome, in order. Of events
    with the same source and event id, the first is stored and the others compared with it."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        inbox = uow.repository(Inbox)
        stored_now = {(e.source, e.event_id) for e in inbox.store_new(dedupe(events), now)}
        first: dict[tuple[str, str], DealEvent] = {}
        for e in events:
            first.setdefault((e.source, e.event_id), e)
        held = inbox.payloads([key for key in first if key not in stored_now])
        uow.commit()
    receipts = []
    for e in events:
        key = (e.source, e.event_id)
        if key in stored_now and first[key] is e:
            receipts.append(Receipt.ACCEPTED)
            continue
        payload = first[key].deal.as_dict() if key in stored_now else held.get(key)
        receipts.append(Receipt.DUPLICATE if _given(payload) == e.deal.as_dict() else Receipt.CONFLICT)
    return receipts


def transient(exc: BaseException) -> bool:
    """The database could not be reached or was busy: the same write may work later."""
    return isinstance(exc, TRANSIENT_ERRORS)


def _given(payload: object) -> object:
    """A stored payload as `DealInput.as_dict` gives it today: events stored before kept empty
    values too, and a redelivery of one must still read as the same deal."""
    if not isinstance(payload, dict):
        return payload
    return {k: v for k, v in payload.items() if v != ""}
