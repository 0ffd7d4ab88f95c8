"""Unit of work: one database transaction, with the audit entries and outbox messages it collects.

Only a use case commits. Audit entries and outbox rows are buffered and written at commit, in the
same transaction as the state change they describe: both happen or neither. The audit head row is
locked only for that final moment, so concurrent transactions serialise briefly, not throughout.
Entries are keyed (HMAC-SHA256, `kernel.audit`) with the unit's audit key; without one, a chain
whose head is keyed is not written to at all (`AuditKeyMissing`): an unkeyed entry after keyed ones
would read as a forgery.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, func, select, text, update

from handoff.kernel.audit import AuditEntry, AuditKey, entry_hash
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.codec import to_json_fragment

try:
    import fcntl
except ImportError:  # not POSIX: writers of one process still queue on the thread lock
    fcntl = None  # type: ignore[assignment]


R = TypeVar("R")


def allocate_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """`count` fresh primary keys for `table`, so new rows can be written in bulk later in the
    transaction. PostgreSQL draws them from the column's sequence (safe across workers); SQLite
    continues after the largest id, safe because its writers are serialised (BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        ids = conn.execute(
            text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, :n)"),
            {"n": count},
        ).scalars()
        return sorted(ids, reverse=True)  # popped from the end: ascending
    start = conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    pending = conn.info.setdefault("allocated", {})
    start = max(start, pending.get(table.name, 0))
    pending[table.name] = start + count
    return list(range(start + count, start, -1))


class AuditKeyMissing(RuntimeError):
    """The audit chain is keyed and this process has no key: nothing is committed."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A side effect to deliver after commit: `key` makes redelivery and re-enqueueing harmless."""

    key: str
    channel: str  # email | log
    topic: str
    payload: Mapping[str, Any]


class _SqliteWriterLock:
    """SQLite has one writer at a time. Writers queue on this lock instead of in SQLite's busy
    handler, whose growing sleeps (1, 2, 5, 10 ms...) would turn contention into long stalls: the
    threads of this process on a thread lock, processes on the same file on an exclusive `flock` of
    `<database>-writer.lock`. Both wake a waiter as soon as the writer is done."""

    def __init__(self, database: str | None) -> None:
        self._thread = threading.Lock()
        self._path = f"{database}-writer.lock" if database and fcntl else None
        self._fd, self._pid = -1, 0

    def acquire(self) -> None:
        self._thread.acquire()
        if self._path is None:
            return
        try:
            if self._pid != os.getpid():  # per process: a forked child's inherited lock would be its parent's
                self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # (releases the interpreter while it waits)
        except BaseException:
            self._thread.release()
            raise

    def release(self) -> None:
        try:
            if self._path is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()


_sqlite_writers: dict[str | int, _SqliteWriterLock] = {}  # by database file (an in-memory one: by engine)


def _writer_lock(engine: Engine) -> _SqliteWriterLock | None:
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    key = os.path.abspath(database) if database and database != ":memory:" else id(engine)
    lock = _sqlite_writers.get(key)
    if lock is None:
        lock = _sqlite_writers.setdefault(key, _SqliteWriterLock(key if isinstance(key, str) else None))
    return lock


class UnitOfWork:
    """`durable=False` (SQLite): the commit does not wait for the disk (synchronous=NORMAL in WAL
    mode instead of FULL). Only for transactions whose every effect derives from rows already
    durable, as applying inbox events: after a power loss such a commit may be gone, its events are
    pending again and are applied again. Nothing outside the database acts on it first: SQLite
    appends every commit to one WAL, so the next durable commit (a webhook's, an outbox claim, an
    invoice issue) makes all earlier ones durable with it. A process crash loses nothing.
    `audit_key`: the key audit entries are signed with (None: unkeyed, scheme 1)."""

    def __init__(self, engine: Engine, durable: bool = True, audit_key: AuditKey | None = None) -> None:
        self.engine = engine
        self._audit_key = audit_key
        self._lock = _writer_lock(engine)
        self._relaxed = not durable and engine.dialect.name == "sqlite"
        self._audit: list[tuple[str, str, str, str, str, str, Any, Any]] = []
        self._notices: list[tuple[Notice, datetime]] = []

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def __enter__(self) -> UnitOfWork:
        if self._lock is not None:
            self._lock.acquire()
        try:
            self.conn = self.engine.connect()
            if self._relaxed:  # not inside a transaction: SQLite refuses that
                self._synchronous("NORMAL")
            self.conn.begin()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.conn.in_transaction():
                self.conn.rollback()
            if self._relaxed:
                try:
                    self._synchronous("FULL")  # the pooled connection goes back as it came
                except Exception:
                    self.conn.invalidate()  # never handed out again with durability off
            self.conn.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    def _synchronous(self, level: str) -> None:
        dbapi = self.conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.execute(f"PRAGMA synchronous={level}")

    def repository(self, kind: Callable[[UnitOfWork], R]) -> R:
        """`kind`, a package's repository, working in this transaction. Use cases get their
        repositories here, so that a use case's unit test can hand out fakes instead."""
        return kind(self)

    def audit(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        entity_type: str,
        entity_id: str,
        reason: str,
        before: Any = None,
        after: Any = None,
    ) -> None:
        # Serialised once, canonically: the same bytes feed the chain's hash and the stored row.
        self._audit.append(
            (
                at.isoformat(),
                actor,
                action,
                entity_type,
                entity_id,
                reason,
                None if before is None else to_json_fragment(before, sort_keys=True),
                None if after is None else to_json_fragment(after, sort_keys=True),
            )
        )

    def notify(self, notice: Notice, at: datetime) -> None:
        self._notices.append((notice, at))

    def mark(self) -> tuple[int, int]:
        """A point to roll the buffered audit entries and notices back to (with a savepoint)."""
        return len(self._audit), len(self._notices)

    def rollback_to(self, mark: tuple[int, int]) -> None:
        del self._audit[mark[0] :]
        del self._notices[mark[1] :]

    def commit(self) -> None:
        self._flush_outbox()
        self._flush_audit()
        self.conn.commit()

    def _flush_outbox(self) -> None:
        rows = [
            {
                "key": n.key,
                "channel": n.channel,
                "topic": n.topic,
                "payload": to_json_fragment(n.payload),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": at,
                "created_at": at,
            }
            for n, at in self._notices
        ]
        insert_many(self.conn, schema.outbox, rows, ignore_conflicts_on=["key"])
        self._notices.clear()

    def _flush_audit(self) -> None:
        if not self._audit:
            return
        head = schema.audit_head
        head_q = select(head.c.seq, head.c.hash, head.c.key_id).where(head.c.id == 1)
        if self.is_postgres:
            head_q = head_q.with_for_update()
        seq, prev, head_key = self.conn.execute(head_q).one()
        key = self._audit_key
        if key is None and head_key:
            raise AuditKeyMissing(
                f"the audit trail is keyed (key {head_key}) and this process has no audit key: set "
                "HANDOFF_AUDIT_KEY or HANDOFF_AUDIT_KEY_FILE; nothing was written"
            )
        key_id = key.id if key is not None else ""
        rows = []
        for at, actor, action, etype, eid, reason, before, after in self._audit:
            seq += 1
            entry = AuditEntry(seq, at, actor, action, etype, eid, reason, before, after, prev, "", key_id)
            prev = entry_hash(entry, key)
            rows.append(
                {
                    "seq": seq,
                    "at": at,
                    "actor": actor,
                    "action": action,
                    "entity_type": etype,
                    "entity_id": eid,
                    "reason": reason,
                    "before": before,
                    "after": after,
                    "prev_hash": entry.prev_hash,
                    "hash": prev,
                    "key_id": key_id,
                }
            )
        insert_many(self.conn, schema.audit_log, rows)
        self.conn.execute(update(head).where(head.c.id == 1).values(seq=seq, hash=prev, key_id=key_id))
        self._audit.clear()
