"""Migration 0016 on both engines: the audit entries already there (hashed without a key) keep an
empty key id and verify as before; keyed entries follow them; a downgrade that would drop the key
ids of keyed entries is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from handoff.audit.repository import AuditRepository
from handoff.kernel.audit import GENESIS, AuditEntry, AuditKeys, check_chain, entry_hash
from handoff.kernel.storage.db import alembic_config, upgrade
from handoff.kernel.storage.unit_of_work import UnitOfWork

AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
LOG = sa.table(
    "audit_log",
    *(sa.column(n) for n in ("seq", "at", "actor", "action", "entity_type", "entity_id", "reason")),
    sa.column("before", sa.JSON),
    sa.column("after", sa.JSON),
    sa.column("prev_hash"),
    sa.column("hash"),
)


def test_entries_hashed_before_keying_verify_after_the_upgrade(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0015")
    prev = GENESIS
    with empty_engine.begin() as conn:  # as release 0015 wrote them: SHA-256, no key
        for seq in (1, 2, 3):
            entry = AuditEntry(
                seq, AT.isoformat(), "anna@x", "order.updated", "order", "D-1", "", None, {"n": seq}, prev
            )
            prev = entry_hash(entry)
            values = {f: getattr(entry, f) for f in ("seq", "at", "actor", "action", "entity_type", "entity_id")}
            conn.execute(
                sa.insert(LOG).values(**values, reason="", after={"n": seq}, prev_hash=entry.prev_hash, hash=prev)
            )
        conn.execute(sa.text("UPDATE audit_head SET seq = 3, hash = :h"), {"h": prev})
    upgrade(empty_engine)
    keys = AuditKeys.generate()
    with AuditRepository(empty_engine).chain() as chain:
        found = check_chain(chain.entries, chain.seq, chain.head_hash, keys)
    assert found.broken is None and (found.entries, found.unkeyed) == (3, 3)
    with UnitOfWork(empty_engine, audit_key=keys.current) as uow:
        uow.audit(at=AT, actor="ben@x", action="order.updated", entity_type="order", entity_id="D-1", reason="")
        uow.commit()
    with AuditRepository(empty_engine).chain() as chain:
        found = check_chain(chain.entries, chain.seq, chain.head_hash, keys)
    assert found.broken is None and (found.entries, found.unkeyed) == (4, 3)
    with pytest.raises(RuntimeError, match="1 keyed entries"):
        command.downgrade(alembic_config(empty_engine), "0015")
