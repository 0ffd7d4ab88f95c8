"""Audit use cases: verify the hash chain, read an entity's history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from handoff.context import AppContext
from handoff.kernel.audit import AuditEntry, Break, verify_chain
from handoff.kernel.storage import schema


def _entry(r: Any) -> AuditEntry:
    return AuditEntry(r.seq, r.at, r.actor, r.action, r.entity_type, r.entity_id, r.reason, r.before, r.after,
                      r.prev_hash, r.hash)  # fmt: skip


def verify(ctx: AppContext) -> tuple[int, Break | None]:
    """(entries checked, first break or None). Streams the log, so its size does not matter."""
    a = schema.audit_log
    with ctx.engine.connect() as conn:
        seq, head_hash = conn.execute(select(schema.audit_head.c.seq, schema.audit_head.c.hash)).one()
        result = conn.execution_options(yield_per=5000).execute(select(a).order_by(a.c.seq))
        try:
            return seq, verify_chain((_entry(r) for r in result), seq, head_hash)
        finally:
            result.close()


def history(ctx: AppContext, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    a = schema.audit_log
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(a.c.seq, a.c.at, a.c.actor, a.c.action, a.c.reason, a.c.before, a.c.after)
                            .where(a.c.entity_type == entity_type, a.c.entity_id == entity_id)
                            .order_by(a.c.seq))  # fmt: skip
        return [dict(r._mapping) for r in rows]
