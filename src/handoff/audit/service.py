"""Audit use cases: verify the hash chain, read an entity's history."""

from __future__ import annotations

from typing import Any

from handoff.audit.repository import AuditRepository
from handoff.context import AppContext
from handoff.kernel.audit import Break, verify_chain


def verify(ctx: AppContext) -> tuple[int, Break | None]:
    """(entries checked, first break or None). Streams the log, so its size does not matter."""
    with AuditRepository(ctx.engine).chain() as chain:
        return chain.seq, verify_chain(chain.entries, chain.seq, chain.head_hash)


def history(ctx: AppContext, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    return [e._asdict() for e in AuditRepository(ctx.engine).history(entity_type, entity_id)]
