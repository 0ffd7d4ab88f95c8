"""The deal-event inbox: events stored as received, then claimed oldest first to be applied.

Storing skips a (source, event id) that is there already, so a redelivered webhook or a CRM page
read twice is harmless. Claiming locks the rows on PostgreSQL (other workers skip them). An event
whose stored payload cannot be read back as a deal is still claimed: it fails when applied, alone,
like any bad event, instead of stopping every event behind it. A failed event stays `failed` with
its error until an operator puts it back to `pending` (`requeue_failed`, by `deals.service.inbox`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, func, select, update

from handoff.deals.domain.orders import DealEvent, DealInput, LineInput
from handoff.deals.repository import deal_from_json
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.paging import Page, fetch_page
from handoff.kernel.storage.unit_of_work import UnitOfWork

MAX_ID = 2**31 - 1  # the id column's range (PostgreSQL integer): beyond it, no event
_CHUNK = 500  # ids per IN list


class InboxStatus(StrEnum):
    """Where an inbox event stands: waiting to be applied, or how applying it went."""

    PENDING = "pending"
    APPLIED = "applied"
    STALE = "stale"  # not newer than the version applied: changed nothing
    FAILED = "failed"  # applying it raised: kept with its error until retried


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """One inbox row without its payload."""

    id: int
    source: str
    event_id: str
    deal_id: str
    status: InboxStatus
    received_at: datetime
    processed_at: datetime | None
    error: str | None


class UnreadablePayload(ValueError):
    """An inbox event's stored payload cannot be read back as a deal."""


class _Unreadable(Mapping[str, str]):
    """Stands for the fields of a deal whose stored payload cannot be read: every read raises, so
    applying the event fails like any bad event (kept `failed` with this error, the rest of the
    batch goes on), while an event older than the applied version is found stale without a read."""

    __slots__ = ("_message",)

    def __init__(self, message: str) -> None:
        self._message = message

    def __getitem__(self, key: str) -> str:
        raise UnreadablePayload(self._message)

    def __iter__(self) -> Iterator[str]:
        raise UnreadablePayload(self._message)

    def __len__(self) -> int:
        raise UnreadablePayload(self._message)


def _read_deal(row: Any, payload: Any) -> DealInput:
    try:
        return deal_from_json(payload)
    except Exception as exc:  # whatever is stored there: this event fails when applied, no other
        message = f"inbox event {row.id} ({row.source}/{row.event_id}): the stored payload cannot be read as a deal: "
        return DealInput(row.deal_id, _Unreadable(message + _why_unreadable(payload, exc)))


def _why_unreadable(payload: Any, exc: Exception) -> str:
    """The part of a stored payload that cannot be read, by name where it can be told."""
    if not isinstance(payload, dict):
        return f"it is a {type(payload).__name__}, not an object"
    lines = payload.get("lines")
    if lines is not None and not isinstance(lines, list):
        return f"lines: a {type(lines).__name__}, not a list"
    for n, line in enumerate(lines or ()):
        if not isinstance(line, dict):
            return f"lines[{n}]: a {type(line).__name__}, not an object"
        try:
            LineInput(**line)
        except TypeError as line_exc:
            return f"lines[{n}]: {line_exc}"
    return f"{type(exc).__name__}: {exc}"


def _columns() -> list[Any]:
    i = schema.inbox
    return [i.c.id, i.c.source, i.c.event_id, i.c.deal_id, i.c.status, i.c.received_at, i.c.processed_at, i.c.error]


def _event(row: Any) -> InboxEvent:
    return InboxEvent(
        row.id,
        row.source,
        row.event_id,
        row.deal_id,
        InboxStatus(row.status),
        row.received_at,
        row.processed_at,
        row.error,
    )


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


class Inbox:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def store_new(self, events: Sequence[DealEvent], now: datetime) -> list[DealEvent]:
        """Store as pending the events not stored yet (each source and event id once in `events`); returns them."""
        i = schema.inbox
        conn = self._uow.conn
        q = select(i.c.source, i.c.event_id).where(i.c.event_id.in_([e.event_id for e in events]))
        known = set(conn.execute(q))
        fresh = [e for e in events if (e.source, e.event_id) not in known]
        rows = [
            {
                "source": e.source,
                "event_id": e.event_id,
                "deal_id": e.deal.deal_id,
                "occurred_at": e.occurred_at,
                "received_at": now,
                "payload": e.deal.as_dict(),
                "status": "pending",
            }
            for e in fresh
        ]
        insert_many(conn, i, rows, ["source", "event_id"])
        return fresh

    def payloads(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        """The stored payload of each (source, event id) of `keys` that is stored."""
        i = schema.inbox
        wanted = set(keys)
        found: dict[tuple[str, str], Any] = {}
        event_ids = sorted({event_id for _, event_id in wanted})
        for start in range(0, len(event_ids), _CHUNK):
            q = select(i.c.source, i.c.event_id, i.c.payload).where(i.c.event_id.in_(event_ids[start : start + _CHUNK]))
            for source, event_id, payload in self._uow.conn.execute(q):
                if (source, event_id) in wanted:
                    found[(source, event_id)] = payload
        return found

    def claim(self, size: int, known: Mapping[tuple[str, str], DealEvent]) -> dict[int, DealEvent]:
        """Up to `size` pending events in inbox id order, by inbox id. `known`: events this process
        has in memory already, so their stored payload need not be read back and decoded. An event
        whose payload cannot be read is returned all the same, with a deal that raises
        `UnreadablePayload` (naming the event and the part that cannot be read) when applied."""
        i = schema.inbox
        conn = self._uow.conn
        q = select(*(c for c in i.c if c.name != "payload")).where(i.c.status == "pending").order_by(i.c.id).limit(size)
        if self._uow.is_postgres:
            q = q.with_for_update(skip_locked=True)
        rows = conn.execute(q).all()
        deals = {r.id: e.deal for r in rows if (e := known.get((r.source, r.event_id))) is not None}
        missing = {r.id: r for r in rows if r.id not in deals}
        if missing:
            for row_id, payload in conn.execute(select(i.c.id, i.c.payload).where(i.c.id.in_(list(missing)))):
                deals[row_id] = _read_deal(missing[row_id], payload)
        return {r.id: DealEvent(r.source, r.event_id, r.occurred_at, deals[r.id]) for r in rows}

    def event(self, inbox_id: int) -> InboxEvent | None:
        """One event (locked on PostgreSQL until the transaction ends), or None."""
        if not 1 <= inbox_id <= MAX_ID:
            return None
        q = select(*_columns()).where(schema.inbox.c.id == inbox_id)
        if self._uow.is_postgres:
            q = q.with_for_update()
        row = self._uow.conn.execute(q).one_or_none()
        return None if row is None else _event(row)

    def failed(self) -> list[InboxEvent]:
        """Every failed event, oldest first (locked on PostgreSQL until the transaction ends)."""
        i = schema.inbox
        q = select(*_columns()).where(i.c.status == InboxStatus.FAILED.value).order_by(i.c.id)
        if self._uow.is_postgres:
            q = q.with_for_update()
        return [_event(r) for r in self._uow.conn.execute(q)]

    def requeue_failed(self, ids: Sequence[int]) -> int:
        """Put these events back to pending, those still failed; how many. Their error goes (the
        caller audits it): applying them again records the new outcome."""
        i = schema.inbox
        done = 0
        for chunk in _chunks(ids):
            done += self._uow.conn.execute(
                update(i)
                .where(i.c.id.in_(chunk), i.c.status == InboxStatus.FAILED.value)
                .values(status=InboxStatus.PENDING.value, processed_at=None, error=None)
            ).rowcount
        return done


def events(engine: Engine, ids: Sequence[int]) -> list[InboxEvent]:
    """These events as they stand now, in id order (those that exist)."""
    i = schema.inbox
    found: list[InboxEvent] = []
    with engine.connect() as conn:
        for chunk in _chunks(sorted(ids)):
            found += [_event(r) for r in conn.execute(select(*_columns()).where(i.c.id.in_(chunk)).order_by(i.c.id))]
    return found


def failed_page(engine: Engine, limit: int, offset: int) -> Page:
    """Failed events, oldest first: id, source, event_id, deal_id, received_at, failed_at, error
    (the `ix_inbox_pending` index, on status and id, serves it)."""
    i = schema.inbox
    q = (
        select(
            i.c.id,
            i.c.source,
            i.c.event_id,
            i.c.deal_id,
            i.c.received_at,
            i.c.processed_at.label("failed_at"),
            i.c.error,
        )
        .where(i.c.status == InboxStatus.FAILED.value)
        .order_by(i.c.id)
    )
    return fetch_page(engine, q, limit, offset)


def pending_count(engine: Engine) -> int:
    with engine.connect() as conn:
        q = select(func.count()).select_from(schema.inbox).where(schema.inbox.c.status == "pending")
        return int(conn.execute(q).scalar_one())
