"""Failed deal events, and the way back from them: list them, retry one or all.

Applying an inbox event that raises keeps it `failed` with its error (intake redoes its batch event
by event, so the others go on). Once the cause is fixed (a corrected configuration, a repaired
payload), a retry puts the event back to `pending`, audited on its deal (who, when, why, and the
error it had), then applies pending events by the usual path (`intake.process_pending`): the event
is applied, found stale (a newer version of the deal came meanwhile) or fails again with its new
error. Only a failed event is retried; any other is refused, naming the event and its status.

A version dated in the future (stored before intake refused such times) froze its deal: every
genuine later update was found stale. `repair_future` re-dates the deal's events dated beyond the
tolerance to when they were received (the latest they can truly have happened) and the applied
version with them, audited on the deal, puts back to pending the stale events now newer than it,
and applies pending events: the newest genuine version wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from handoff.context import AppContext
from handoff.deals.repository import inbox as stored
from handoff.deals.repository.inbox import Inbox, InboxEvent, InboxStatus
from handoff.deals.repository.versions import Versions
from handoff.deals.service.admission import future_tolerance
from handoff.deals.service.intake import ProcessReport, process_pending
from handoff.kernel.storage.paging import Page
from handoff.kernel.storage.unit_of_work import UnitOfWork

__all__ = [
    "InboxEvent",
    "InboxStatus",
    "Redated",
    "RepairRefused",
    "RepairReport",
    "RetryRefused",
    "RetryReport",
    "list_failed",
    "repair_future",
    "retry",
    "retry_all",
]

PAGE = 50
DEFAULT_REASON = "failed inbox event retried"


class RetryRefused(Exception):
    """A retry that cannot be done: no such event, or the event is not failed."""


@dataclass(frozen=True)
class RetryReport:
    """The retried events as they stand after pending events were applied (`status` applied,
    stale, failed again with its new `error`, or still pending while another worker applies it),
    and what that applying did in all (other pending events included)."""

    outcomes: list[InboxEvent] = field(default_factory=list)
    processed: ProcessReport = field(default_factory=ProcessReport)

    def count(self, status: InboxStatus) -> int:
        return sum(1 for o in self.outcomes if o.status is status)


def list_failed(ctx: AppContext, limit: int = PAGE, offset: int = 0) -> Page:
    """Failed events, oldest first: id, source, event_id, deal_id, received_at, failed_at, error."""
    return stored.failed_page(ctx.engine, limit, offset)


def retry(ctx: AppContext, inbox_id: int, actor: str, reason: str = "") -> RetryReport:
    """Put one failed event back to pending (audited) and apply pending events."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        inbox = uow.repository(Inbox)
        event = inbox.event(inbox_id)
        if event is None:
            raise RetryRefused(f"there is no inbox event {inbox_id}")
        if event.status is not InboxStatus.FAILED:
            raise RetryRefused(
                f"inbox event {inbox_id} ({event.source}/{event.event_id}) is {event.status.value}, not failed: "
                "only a failed event is retried"
            )
        inbox.requeue_failed([inbox_id])
        _audit(uow, [event], actor, reason, now)
        uow.commit()
    return _apply([inbox_id], ctx)


def retry_all(ctx: AppContext, actor: str, reason: str = "") -> RetryReport:
    """Put every failed event back to pending (each audited) and apply pending events."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        inbox = uow.repository(Inbox)
        failed = inbox.failed()
        if not failed:
            return RetryReport()
        inbox.requeue_failed([e.id for e in failed])
        _audit(uow, failed, actor, reason, now)
        uow.commit()
    return _apply([e.id for e in failed], ctx)


def _audit(uow: UnitOfWork, events: Sequence[InboxEvent], actor: str, reason: str, now: datetime) -> None:
    """On each event's deal, so that the deal's history shows who sent it through again and why."""
    for e in events:
        uow.audit(
            at=now,
            actor=actor,
            action="inbox.retried",
            entity_type="order",
            entity_id=e.deal_id,
            reason=reason.strip() or DEFAULT_REASON,
            before={
                "inbox_id": e.id,
                "source": e.source,
                "event_id": e.event_id,
                "status": e.status.value,
                "error": e.error,
            },
            after={"status": InboxStatus.PENDING.value},
        )


def _apply(ids: Sequence[int], ctx: AppContext) -> RetryReport:
    processed = process_pending(ctx)
    return RetryReport(stored.events(ctx.engine, ids), processed)


REPAIR_REASON = "version dated ahead of the clock re-dated"


class RepairRefused(Exception):
    """A repair that cannot be done: no such deal, or nothing of it dated ahead of the clock."""


@dataclass(frozen=True)
class Redated:
    inbox_id: int
    event_id: str
    before: datetime
    after: datetime


@dataclass(frozen=True)
class RepairReport:
    """The events re-dated, the applied version's time (before, after; None when the deal had no
    applied version from the future), and the stale events sent through again as they stand after
    pending events were applied."""

    deal_id: str
    redated: list[Redated]
    version: tuple[datetime, datetime] | None
    requeued: list[InboxEvent]
    processed: ProcessReport


def repair_future(ctx: AppContext, deal_id: str, actor: str, reason: str = "") -> RepairReport:
    """Re-date the deal's versions dated beyond the tolerance ahead of the clock to when they were
    received (audited), send its stale events newer than that through again, apply pending events."""
    now = ctx.clock()
    limit = now + future_tolerance(ctx)
    with ctx.unit_of_work() as uow:
        versions = uow.repository(Versions)
        applied = versions.applied(deal_id)
        future = versions.events_after(deal_id, limit)
        if applied is None and not versions.has_events(deal_id):
            raise RepairRefused(f"there is no deal {deal_id}")
        if not future and (applied is None or applied.at <= limit):
            raise RepairRefused(
                f"deal {deal_id} has nothing dated ahead of the clock by more than "
                f"{future_tolerance(ctx).total_seconds():.0f} seconds"
            )
        redated = [Redated(e.id, e.event_id, e.occurred_at, min(e.received_at, now)) for e in future]
        for r in redated:
            versions.redate_event(r.inbox_id, r.after)
        version = None
        if applied is not None and applied.at > limit:
            own = [r.after for r in redated if r.event_id == applied.event_id]
            version = (applied.at, own[0] if own else now)
            versions.redate_applied(deal_id, version[1])
        current = version[1] if version else applied.at if applied else None
        stale = versions.events_after(deal_id, current, InboxStatus.STALE) if current is not None else []
        versions.requeue_stale([e.id for e in stale])
        uow.audit(
            at=now,
            actor=actor,
            action="inbox.redated",
            entity_type="order",
            entity_id=deal_id,
            reason=reason.strip() or REPAIR_REASON,
            before={
                "version_at": version[0].isoformat() if version else None,
                "events": [
                    {"inbox_id": r.inbox_id, "event_id": r.event_id, "occurred_at": r.before.isoformat()}
                    for r in redated
                ],
            },
            after={
                "version_at": version[1].isoformat() if version else None,
                "events": [{"inbox_id": r.inbox_id, "occurred_at": r.after.isoformat()} for r in redated],
                "requeued": sorted(e.id for e in stale),
            },
        )
        uow.commit()
    processed = process_pending(ctx)
    return RepairReport(deal_id, redated, version, stored.events(ctx.engine, [e.id for e in stale]), processed)
