"""Audit storage: the only SQL that reads the audit log and its head (the unit of work appends to it).

The chain is streamed in `seq` order on one connection, with the head read on the same one (one
snapshot: on SQLite the read transaction, on PostgreSQL REPEATABLE READ), so a log of any size is
verified in constant memory while others append.
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
    def chain(self, from_seq: int = 1) -> Iterator[Chain]:
        """The chain from entry `from_seq` on, streamed for as long as the block lasts."""
        a, head = schema.audit_log, schema.audit_head
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # head and entries from one snapshot, whoever appends meanwhile
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            seq, head_hash = conn.execute(select(head.c.seq, head.c.hash)).one()
            q = select(*ENTRY_COLUMNS).where(a.c.seq >= from_seq).order_by(a.c.seq)
            result = conn.execution_options(yield_per=STREAM_BATCH).execute(q)
            try:
                entries = (AuditEntry(*r) for r in result)
                yield Chain(seq, head_hash, entries)
            finally:
                result.close()

    def head_key(self) -> str:
        """The key id the head records (empty: no keyed entry yet)."""
        with self._engine.connect() as conn:
            return str(conn.execute(select(schema.audit_head.c.key_id)).scalar_one())

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
