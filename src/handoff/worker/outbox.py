"""Outbox delivery: claim due rows, deliver them after the claim commits, record the outcome.

At least once: a row is claimed with a lease (`claimed_until`), so a worker that dies mid-delivery
leaves it to be taken again when the lease runs out. Failures retry with exponential backoff and
jitter; after `max_attempts`, or at once for a permanent failure, the row is dead-lettered with
its reason, where an operator can list and replay it. On PostgreSQL many workers share the table
through `FOR UPDATE SKIP LOCKED`.

A lease can run out while its holder is still busy (a slow partner API, a loaded machine, rows
late in a claimed batch), and a second worker must not then deliver the same row at the same time:
for an accounting system that answers "not found" to both lookups, that is an invoice made twice.
So each row is guarded just before its delivery: on PostgreSQL by a session advisory lock on the
row (released by the server when a killed worker's connection drops) and a fresh look at its
status; on SQLite, whose workers share one machine, by renewing the lease only if still held.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from handoff.context import AppContext
from handoff.kernel.delivery import DeliveryError
from handoff.kernel.storage.outbox import OutboxMessage, OutboxRepository, delivery_lock
from handoff.kernel.storage.outbox import dead_letters as stored_dead_letters


class Channel(Protocol):
    def deliver(self, key: str, payload: Mapping[str, Any]) -> None: ...


@dataclass
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    dead: int = 0


def backoff(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the n-th failure: exponential, capped, with 'equal jitter' so that
    many failed rows do not all come back at the same moment."""
    delay = min(cap, base * 2.0 ** (attempts - 1))
    return delay / 2 + (rng or random).uniform(0, delay / 2)


def claim(ctx: AppContext, worker_id: str, batch: int) -> list[OutboxMessage]:
    now = ctx.clock()
    lease = timedelta(seconds=ctx.config.model.outbox.lease_seconds)
    with ctx.unit_of_work() as uow:
        messages = uow.repository(OutboxRepository).claim_due(worker_id, now, now + lease, batch)
        if not messages:
            return []
        uow.commit()
    return messages


def deliver_due(
    ctx: AppContext, channels: Mapping[str, Channel], worker_id: str = "worker", batch: int = 100
) -> DeliveryReport:
    return deliver_claimed(ctx, claim(ctx, worker_id, batch), channels)


def deliver_claimed(ctx: AppContext, rows: list[OutboxMessage], channels: Mapping[str, Channel]) -> DeliveryReport:
    """Deliver rows this worker claimed, each only if it may still (see the module's note)."""
    report = DeliveryReport()
    policy = ctx.config.model.outbox
    for row in rows:
        with _guard(ctx, row) as held:
            if not held:  # another worker has it now
                continue
            error: DeliveryError | None = None
            channel = channels.get(row.channel)
            if channel is None:
                error = DeliveryError(f"no channel {row.channel!r} configured", permanent=True)
            else:
                try:
                    channel.deliver(row.key, row.payload)
                except DeliveryError as exc:
                    error = exc
            _record(ctx, row, error, policy.max_attempts, policy.base_delay_seconds, policy.max_delay_seconds, report)
    return report


@contextmanager
def _guard(ctx: AppContext, row: OutboxMessage) -> Iterator[bool]:
    """Whether this worker may deliver `row` now; on PostgreSQL the lock is held until the
    outcome is recorded."""
    if ctx.engine.dialect.name == "postgresql":
        with delivery_lock(ctx.engine, row.id) as held:
            yield held
        return
    lease = timedelta(seconds=ctx.config.model.outbox.lease_seconds)
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        renewed = uow.repository(OutboxRepository).renew_lease(row, now + lease)
        uow.commit()
    yield renewed


def _record(
    ctx: AppContext,
    row: OutboxMessage,
    error: DeliveryError | None,
    max_attempts: int,
    base: float,
    cap: float,
    report: DeliveryReport,
) -> None:
    now: datetime = ctx.clock()
    attempts = row.attempts + 1
    with ctx.unit_of_work() as uow:
        outbox = uow.repository(OutboxRepository)
        if error is None:
            outbox.mark_delivered(row, now)
            report.delivered += 1
        elif error.permanent or attempts >= max_attempts:
            outbox.mark_dead(row, str(error))
            report.dead += 1
        else:
            outbox.mark_failed(row, str(error), now + timedelta(seconds=backoff(attempts, base, cap)))
            report.retried += 1
        uow.commit()


def dead_letters(ctx: AppContext) -> list[dict[str, Any]]:
    return [asdict(letter) for letter in stored_dead_letters(ctx.engine)]


def replay(ctx: AppContext, outbox_id: int, actor: str) -> bool:
    """Put a dead letter back in line for delivery, with fresh attempts."""
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        key = uow.repository(OutboxRepository).requeue_dead(outbox_id, now)
        if key is None:
            return False
        uow.audit(
            at=now,
            actor=actor,
            action="outbox.replayed",
            entity_type="outbox",
            entity_id=key,
            reason="operator replayed a dead letter",
        )
        uow.commit()
    return True
