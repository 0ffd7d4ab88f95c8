"""Audit storage: the only SQL that reads the audit log and its head (the unit of work appends to it).

The chain is streamed in `seq` order on one connection, with the head read on the same one, so a
log of any size is verified in constant memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, NamedTuple

from sqlalchemy import Engine, select

from handoff.kernel.audit import AuditEntry
from handoff.kernel.storage import schema

STREAM_BATCH = 5000  # rows fetched at a time while streaming the log
ENTRY_COLUMNS = tuple(schema.audit_log.c[f.name] for f in fields(AuditEntry))  # in AuditEntry's order


class Chain(NamedTuple):
    """The head (last sequence number and its hash) and every entry, in order, read lazily."""

    seq: int
    head_hash: str
    entries: Iterator[AuditEntry]


class HistoryEntry(NamedTuple):
    seq: int
    at: str  # ISO 8601 UTC
    actor: str
    action: str
    reason: str
    before: Any
    after: Any


class AuditRepository:
    """Reads of the audit log, on connections of their own."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def chain(self) -> Iterator[Chain]:
        """The chain, streamed for as long as the block lasts."""
        a, head = schema.audit_log, schema.audit_head
        with self._engine.connect() as conn:
            seq, head_hash = conn.execute(select(head.c.seq, head.c.hash)).one()
            result = conn.execution_options(yield_per=STREAM_BATCH).execute(select(*ENTRY_COLUMNS).order_by(a.c.seq))
            try:
                entries = (AuditEntry(*r) for r in result)
                yield Chain(seq, head_hash, entries)
            finally:
                result.close()

    def history(self, entity_type: str, entity_id: str) -> list[HistoryEntry]:
        """What was done to one entity, oldest first."""
        a = schema.audit_log
        q = (
            select(a.c.seq, a.c.at, a.c.actor, a.c.action, a.c.reason, a.c.before, a.c.after)
            .where(a.c.entity_type == entity_type, a.c.entity_id == entity_id)
            .order_by(a.c.seq)
        )
        with self._engine.connect() as conn:
            return [HistoryEntry(*r) for r in conn.execute(q)]
