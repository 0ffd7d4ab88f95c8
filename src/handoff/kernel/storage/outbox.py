"""Outbox storage: the SQL of delivering the `outbox` rows that units of work write at commit.

Rows are claimed under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so many workers share the
table), guarded just before delivery, and their outcome is recorded only by their current deliverer.
The policy (when to retry, when to give up) is the worker's; this module only reads and writes rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select, update

from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One outbox row as claimed: `key` is its idempotency key, passed to the channel."""

    id: int
    key: str
    channel: str
    topic: str
    payload: Mapping[str, Any]
    status: str  # pending | delivered | dead
    attempts: int
    next_attempt_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    key: str
    channel: str
    topic: str
    attempts: int
    last_error: str | None
    created_at: datetime


class OutboxRepository:
    """Writes inside the caller's unit of work; the caller commits."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._conn = uow.conn

    def claim_due(self, worker_id: str, now: datetime, lease_until: datetime, batch: int) -> list[OutboxMessage]:
        """Up to `batch` pending rows that are due and not under another worker's lease, oldest
        first, now leased to `worker_id` until `lease_until`."""
        ob = schema.outbox
        due = (
            select(ob.c.id)
            .where(
                ob.c.status == "pending",
                ob.c.next_attempt_at <= now,
                or_(ob.c.claimed_until.is_(None), ob.c.claimed_until < now),
            )
            .order_by(ob.c.id)
            .limit(batch)
        )
        if self._uow.is_postgres:
            due = due.with_for_update(skip_locked=True)
        ids = list(self._conn.execute(due).scalars())
        if not ids:
            return []
        self._conn.execute(update(ob).where(ob.c.id.in_(ids)).values(claimed_by=worker_id, claimed_until=lease_until))
        rows = self._conn.execute(select(ob).where(ob.c.id.in_(ids)).order_by(ob.c.id))
        return [OutboxMessage(**row._mapping) for row in rows]

    def renew_lease(self, message: OutboxMessage, until: datetime) -> bool:
        """Extend the claim on `message` to `until` if its claimant still holds it and it is pending."""
        ob = schema.outbox
        renewed = self._conn.execute(
            update(ob)
            .where(ob.c.id == message.id, ob.c.claimed_by == message.claimed_by, ob.c.status == "pending")
            .values(claimed_until=until)
        ).rowcount
        return renewed == 1

    def mark_delivered(self, message: OutboxMessage, at: datetime) -> None:
        self._record(message, {"status": "delivered", "delivered_at": at, "last_error": None})

    def mark_failed(self, message: OutboxMessage, error: str, next_attempt_at: datetime) -> None:
        """A failed attempt, to be tried again at `next_attempt_at`."""
        self._record(message, {"next_attempt_at": next_attempt_at, "last_error": error})

    def mark_dead(self, message: OutboxMessage, error: str) -> None:
        """A dead letter: no more attempts until an operator replays it."""
        self._record(message, {"status": "dead", "last_error": error})

    def _record(self, message: OutboxMessage, outcome: dict[str, Any]) -> None:
        # Only the row's current deliverer records. On PostgreSQL that is the advisory lock's
        # holder, even if its lease ran out and another worker claimed the row meanwhile (that one
        # cannot deliver it while the lock is held); on SQLite, the claim holder.
        ob = schema.outbox
        values: dict[str, Any] = {"attempts": message.attempts + 1, "claimed_by": None, "claimed_until": None}
        holder = ob.c.status == "pending" if self._uow.is_postgres else ob.c.claimed_by == message.claimed_by
        self._conn.execute(update(ob).where(ob.c.id == message.id, holder).values(values | outcome))

    def requeue_dead(self, outbox_id: int, now: datetime) -> str | None:
        """Put a dead letter back in line with fresh attempts; its key, or None if it is no dead letter."""
        ob = schema.outbox
        key: str | None = self._conn.execute(
            select(ob.c.key).where(ob.c.id == outbox_id, ob.c.status == "dead")
        ).scalar()
        if key is None:
            return None
        self._conn.execute(
            update(ob).where(ob.c.id == outbox_id).values(status="pending", attempts=0, next_attempt_at=now)
        )
        return key


def dead_letters(engine: Engine) -> list[DeadLetter]:
    ob = schema.outbox
    with engine.connect() as conn:
        rows = conn.execute(
            select(ob.c.id, ob.c.key, ob.c.channel, ob.c.topic, ob.c.attempts, ob.c.last_error, ob.c.created_at)
            .where(ob.c.status == "dead")
            .order_by(ob.c.id)
        )
        return [DeadLetter(**row._mapping) for row in rows]


# advisory lock keys are one bigint space per database; the outbox takes those with this high word
_LOCK_SPACE = 0x6F7574 << 32


@contextmanager
def delivery_lock(engine: Engine, outbox_id: int) -> Iterator[bool]:
    """PostgreSQL: whether this process may deliver the row now, holding a session advisory lock
    on it until the block ends (released by the server if the connection drops). The connection
    keeps no transaction open while the block runs, only the lock."""
    key = _LOCK_SPACE + outbox_id
    with engine.connect() as conn:
        locked = bool(conn.execute(select(func.pg_try_advisory_lock(key))).scalar())
        try:
            # a worker that got here first may have finished it meanwhile
            yield locked and _still_pending(conn, outbox_id)
        finally:
            if locked:
                conn.execute(select(func.pg_advisory_unlock(key)))
            conn.commit()


def _still_pending(conn: Connection, outbox_id: int) -> bool:
    conn.commit()  # a fresh snapshot, and no transaction left open during the delivery
    ob = schema.outbox
    pending = conn.execute(select(ob.c.status).where(ob.c.id == outbox_id)).scalar() == "pending"
    conn.commit()
    return pending
