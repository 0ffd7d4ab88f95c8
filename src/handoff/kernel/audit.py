"""Tamper-evident audit trail: each entry's hash covers its content and the previous entry's hash.

Changing, inserting or deleting any stored entry breaks the chain at that entry (or, for the last
one, disagrees with the recorded head), which `verify_chain` reports by entry id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str  # ISO 8601 UTC
    actor: str
    action: str
    entity_type: str
    entity_id: str
    reason: str
    before: Any  # a JSON object or None; when written, possibly already serialised (an orjson.Fragment)
    after: Any
    prev_hash: str
    hash: str = ""


def _canonical(entry: AuditEntry) -> bytes:
    body = [
        entry.seq,
        entry.at,
        entry.actor,
        entry.action,
        entry.entity_type,
        entry.entity_id,
        entry.reason,
        entry.before,
        entry.after,
        entry.prev_hash,
    ]
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(_canonical(entry)).hexdigest()


@dataclass(frozen=True, slots=True)
class Break:
    seq: int
    reason: str


def verify_chain(entries: Iterable[AuditEntry], head_seq: int, head_hash: str) -> Break | None:
    """The first broken link, or None. `head_*` is the last entry the store recorded."""
    prev_hash, expected_seq = GENESIS, 1
    for entry in entries:
        if entry.seq != expected_seq:
            return Break(expected_seq, f"entry {expected_seq} is missing (next stored is {entry.seq})")
        if entry.prev_hash != prev_hash:
            return Break(entry.seq, f"entry {entry.seq} does not link to entry {entry.seq - 1}")
        if entry_hash(entry) != entry.hash:
            return Break(entry.seq, f"entry {entry.seq} was altered: its content no longer matches its hash")
        prev_hash, expected_seq = entry.hash, entry.seq + 1
    if expected_seq - 1 != head_seq or prev_hash != head_hash:
        return Break(expected_seq, f"the chain ends at entry {expected_seq - 1} but the head records entry {head_seq}")
    return None
