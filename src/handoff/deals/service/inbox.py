"""Failed deal events, and the way back from them: list them, retry one or all.

Applying an inbox event that raises keeps it `failed` with its error (intake redoes its batch event
by event, so the others go on). Once the cause is fixed (a corrected configuration, a repaired
payload), a retry puts the event back to `pending`, audited on its deal (who, when, why, and the
error it had), then applies pending events by the usual path (`intake.process_pending`): the event
is applied, found stale (a newer version of the deal came meanwhile) or fails again with its new
error. Only a failed event is retried; any other is refused, naming the event and its status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from handoff.context import AppContext
from handoff.deals.repository import inbox as stored
from handoff.deals.repository.inbox import Inbox, InboxEvent, InboxStatus
from handoff.deals.service.intake import ProcessReport, process_pending
from handoff.kernel.storage.paging import Page
from handoff.kernel.storage.unit_of_work import UnitOfWork

__all__ = ["InboxEvent", "InboxStatus", "RetryRefused", "RetryReport", "list_failed", "retry", "retry_all"]

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
