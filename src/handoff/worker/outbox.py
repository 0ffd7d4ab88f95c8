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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, func, or_, select, update

from handoff.context import AppContext
from handoff.kernel.delivery import DeliveryError
from handoff.kernel.storage import schema


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


def claim(ctx: AppContext, worker_id: str, batch: int) -> list[Any]:
    now = ctx.clock()
    ob = schema.outbox
    with ctx.unit_of_work() as uow:
        q = (select(ob.c.id).where(ob.c.status == "pending", ob.c.next_attempt_at <= now,
                                   or_(ob.c.claimed_until.is_(None), ob.c.claimed_until < now))
             .order_by(ob.c.id).limit(batch))  # fmt: skip
        if uow.is_postgres:
            q = q.with_for_update(skip_locked=True)
        ids = list(uow.conn.execute(q).scalars())
        if not ids:
            return []
        lease = timedelta(seconds=ctx.config.model.outbox.lease_seconds)
        uow.conn.execute(update(ob).where(ob.c.id.in_(ids)).values(claimed_by=worker_id, claimed_until=now + lease))
        rows = uow.conn.execute(select(ob).where(ob.c.id.in_(ids)).order_by(ob.c.id)).all()
        uow.commit()
    return list(rows)


def deliver_due(ctx: AppContext, channels: Mapping[str, Channel], worker_id: str = "worker",
                batch: int = 100) -> DeliveryReport:  # fmt: skip
    return deliver_claimed(ctx, claim(ctx, worker_id, batch), channels)


def deliver_claimed(ctx: AppContext, rows: list[Any], channels: Mapping[str, Channel]) -> DeliveryReport:
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


# advisory lock keys are one bigint space per database; the outbox takes those with this high word
_LOCK_SPACE = 0x6F7574 << 32


@contextmanager
def _guard(ctx: AppContext, row: Any) -> Iterator[bool]:
    """Whether this worker may deliver `row` now; on PostgreSQL the lock is held until the
    outcome is recorded."""
    ob = schema.outbox
    if ctx.engine.dialect.name != "postgresql":
        lease = timedelta(seconds=ctx.config.model.outbox.lease_seconds)
        now = ctx.clock()
        with ctx.unit_of_work() as uow:
            renewed = uow.conn.execute(update(ob).where(ob.c.id == row.id, ob.c.claimed_by == row.claimed_by,
                                                        ob.c.status == "pending")
                                       .values(claimed_until=now + lease)).rowcount  # fmt: skip
            uow.commit()
        yield renewed == 1
        return
    key = _LOCK_SPACE + row.id
    with ctx.engine.connect() as conn:
        locked = bool(conn.execute(select(func.pg_try_advisory_lock(key))).scalar())
        try:
            # a worker that got here first may have finished it meanwhile
            yield locked and _still_pending(conn, row.id)
        finally:
            if locked:
                conn.execute(select(func.pg_advisory_unlock(key)))
            conn.commit()


def _still_pending(conn: Connection, row_id: int) -> bool:
    conn.commit()  # a fresh snapshot, and no transaction left open during the delivery
    pending = conn.execute(select(schema.outbox.c.status).where(schema.outbox.c.id == row_id)).scalar() == "pending"
    conn.commit()
    return pending


def _record(ctx: AppContext, row: Any, error: DeliveryError | None, max_attempts: int, base: float, cap: float,
            report: DeliveryReport) -> None:  # fmt: skip
    now: datetime = ctx.clock()
    ob = schema.outbox
    attempts = row.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "claimed_by": None, "claimed_until": None}
    if error is None:
        values |= {"status": "delivered", "delivered_at": now, "last_error": None}
        report.delivered += 1
    elif error.permanent or attempts >= max_attempts:
        values |= {"status": "dead", "last_error": str(error)}
        report.dead += 1
    else:
        values |= {"next_attempt_at": now + timedelta(seconds=backoff(attempts, base, cap)), "last_error": str(error)}
        report.retried += 1
    with ctx.unit_of_work() as uow:
        # Only the row's current deliverer records. On PostgreSQL that is the advisory lock's
        # holder, even if its lease ran out and another worker claimed the row meanwhile (that one
        # cannot deliver it while the lock is held); on SQLite, the claim holder.
        holder = ob.c.status == "pending" if uow.is_postgres else ob.c.claimed_by == row.claimed_by
        uow.conn.execute(update(ob).where(ob.c.id == row.id, holder).values(values))
        uow.commit()


def dead_letters(ctx: AppContext) -> list[dict[str, Any]]:
    ob = schema.outbox
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(ob.c.id, ob.c.key, ob.c.channel, ob.c.topic, ob.c.attempts, ob.c.last_error,
                                   ob.c.created_at).where(ob.c.status == "dead").order_by(ob.c.id))  # fmt: skip
        return [dict(r._mapping) for r in rows]


def replay(ctx: AppContext, outbox_id: int, actor: str) -> bool:
    """Put a dead letter back in line for delivery, with fresh attempts."""
    now = ctx.clock()
    ob = schema.outbox
    with ctx.unit_of_work() as uow:
        key = uow.conn.execute(select(ob.c.key).where(ob.c.id == outbox_id, ob.c.status == "dead")).scalar()
        if key is None:
            return False
        uow.conn.execute(update(ob).where(ob.c.id == outbox_id).values(status="pending", attempts=0,
                                                                      next_attempt_at=now))  # fmt: skip
        uow.audit(at=now, actor=actor, action="outbox.replayed", entity_type="outbox", entity_id=key,
                  reason="operator replayed a dead letter")  # fmt: skip
        uow.commit()
    return True
