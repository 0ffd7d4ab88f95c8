"""Tamper-evident audit trail: each entry's hash covers its content and the previous entry's hash.

Two hash schemes, told apart by the entry's key id:
- scheme 1 (key id empty): SHA-256 of the entry. Entries written before the chain was keyed; they
  still verify after an upgrade, but anyone who can write the database can recompute them.
- scheme 2 (key id set): HMAC-SHA256 (RFC 2104) with the key of that id, kept outside the
  database, over the same content and the key id. Without the key an altered entry cannot be given
  a hash that verifies, nor can the entries after it be rehashed.
Once an entry is keyed every later one must be: an unkeyed entry after a keyed one was written
without the key, or forged. Verification accepts every key it is given (current and retired), so
keys can be rotated; an entry names its key by id, a fingerprint of the key (`AuditKey.of`).

What no hash inside the database can show is a tail cut off with the head row moved back, or a
chain rewritten in scheme 1 from its first entry: signed checkpoints do. A `Checkpoint` is the head
(`seq`, `hash`) at a time, signed with the key and kept outside the database; the chain must still
hold each checkpointed entry unchanged (`check_chain`).

Changing, inserting or deleting any stored entry breaks the chain at that entry (or, for the last
one, disagrees with the recorded head or a checkpoint), which `check_chain` reports by entry id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

GENESIS = "0" * 64
KEY_ID_LENGTH = 16  # hex characters of the key's fingerprint (64 bits)
_KEY_ID_LABEL = b"handoff audit key id"
_CHECKPOINT_LABEL = "handoff-audit-checkpoint/1"  # what a checkpoint signs starts with this: never an entry


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
    key_id: str = ""  # the key of its HMAC; empty: scheme 1 (plain SHA-256)


@dataclass(frozen=True, slots=True)
class AuditKey:
    """A key of the chain; `id` is its fingerprint, stored with each entry it signs."""

    id: str
    secret: bytes = field(repr=False)
    _mac: Any = field(init=False, repr=False, compare=False)  # keyed once; copied per message (cheaper)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_mac", hmac.new(self.secret, digestmod="sha256"))

    @classmethod
    def of(cls, secret: str | bytes) -> AuditKey:
        raw = secret.encode() if isinstance(secret, str) else secret
        return cls(hmac.digest(raw, _KEY_ID_LABEL, "sha256").hex()[:KEY_ID_LENGTH], raw)

    def sign(self, message: bytes) -> str:
        """HMAC-SHA256 of `message` under this key, in hex."""
        mac = self._mac.copy()
        mac.update(message)
        return str(mac.hexdigest())


@dataclass(frozen=True)
class AuditKeys:
    """The key new entries and checkpoints are signed with (`current`; None: unkeyed) and the
    retired ones still accepted when verifying."""

    current: AuditKey | None = None
    previous: tuple[AuditKey, ...] = ()
    _by_id: dict[str, AuditKey] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = [*self.previous, *([self.current] if self.current else [])]
        object.__setattr__(self, "_by_id", {k.id: k for k in keys})

    @classmethod
    def generate(cls) -> AuditKeys:
        """A random key, for tests and throw-away databases."""
        return cls(AuditKey.of(secrets.token_hex(32)))

    def get(self, key_id: str) -> AuditKey | None:
        return self._by_id.get(key_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)


NO_KEYS = AuditKeys()


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
    if entry.key_id:  # scheme 2 covers the key id too: it cannot be swapped for another key's
        body.append(entry.key_id)
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)


def entry_hash(entry: AuditEntry, key: AuditKey | None = None) -> str:
    """Scheme 1 without a key (the entry must have no key id), scheme 2 with the entry's key."""
    if key is None:
        if entry.key_id:
            raise ValueError(f"entry {entry.seq} is keyed ({entry.key_id}): its hash needs that key")
        return hashlib.sha256(_canonical(entry)).hexdigest()
    if key.id != entry.key_id:
        raise ValueError(f"entry {entry.seq} names key {entry.key_id or '(none)'}, not {key.id}")
    return key.sign(_canonical(entry))


class Checkpoint(NamedTuple):
    """The chain's head at a time, signed: entry `seq` had hash `hash` at `at` (ISO 8601 UTC)."""

    seq: int
    hash: str
    at: str
    key_id: str
    signature: str

    def signed(self) -> bytes:
        return orjson.dumps([_CHECKPOINT_LABEL, self.seq, self.hash, self.at, self.key_id])

    def as_json(self) -> dict[str, Any]:
        return self._asdict()


def sign_checkpoint(key: AuditKey, seq: int, head_hash: str, at: str) -> Checkpoint:
    unsigned = Checkpoint(seq, head_hash, at, key.id, "")
    return unsigned._replace(signature=key.sign(unsigned.signed()))


def checkpoint_problem(checkpoint: Checkpoint, keys: AuditKeys) -> str | None:
    """Why `checkpoint` cannot be trusted, or None."""
    key = keys.get(checkpoint.key_id)
    if key is None:
        return f"the checkpoint of {checkpoint.at} is signed with key {checkpoint.key_id}, which is not configured"
    if not hmac.compare_digest(key.sign(checkpoint.signed()), checkpoint.signature):
        return f"the checkpoint of {checkpoint.at} (entry {checkpoint.seq}) has a signature that does not verify"
    return None


@dataclass(frozen=True, slots=True)
class Break:
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What a verification found: entries checked (`unkeyed` of them in scheme 1), checkpoints
    held against the chain, and the first break (None: intact)."""

    entries: int
    unkeyed: int
    checkpoints: int
    broken: Break | None


def check_chain(
    entries: Iterable[AuditEntry],
    head_seq: int,
    head_hash: str,
    keys: AuditKeys = NO_KEYS,
    checkpoints: Sequence[Checkpoint] = (),
    after: Checkpoint | None = None,
) -> ChainReport:
    """Verify the chain; `head_*` is the last entry the store recorded. Each of `checkpoints` must
    be signed by one of `keys` and its entry still be there with the hash it signed. With `after`
    (a checkpoint trusted already), `entries` start at its entry: only what follows is checked."""
    count = unkeyed = 0

    def report(broken: Break | None) -> ChainReport:
        return ChainReport(count, unkeyed, len(checkpoints), broken)

    for checkpoint in checkpoints:
        if problem := checkpoint_problem(checkpoint, keys):
            return report(Break(checkpoint.seq, problem))
    pinned: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        pinned.setdefault(checkpoint.seq, []).append(checkpoint)

    start = after.seq if after is not None and after.seq > 0 else 0
    prev_hash: str | None = GENESIS if start == 0 else None  # None: the entry `after` signed, no link to check
    expected, keyed = max(start, 1), False
    for entry in entries:
        seq = entry.seq
        if seq != expected:
            return report(Break(expected, f"entry {expected} is missing (next stored is {seq})"))
        if prev_hash is None:
            assert after is not None
            if entry.hash != after.hash:
                return report(Break(seq, f"entry {seq} is not the one the checkpoint of {after.at} signed"))
        elif entry.prev_hash != prev_hash:
            return report(Break(seq, f"entry {seq} does not link to entry {seq - 1}"))
        if entry.key_id:
            key = keys.get(entry.key_id)
            if key is None:
                return report(
                    Break(
                        seq,
                        f"entry {seq} is signed with key {entry.key_id}, which is not configured (a retired key "
                        "belongs in HANDOFF_AUDIT_PREVIOUS_KEYS)",
                    )
                )
            keyed = True
            if not hmac.compare_digest(entry_hash(entry, key), entry.hash):
                return report(Break(seq, f"entry {seq} was altered: its content no longer matches its hash"))
        else:
            if keyed:
                return report(
                    Break(
                        seq,
                        f"entry {seq} is not keyed although earlier entries are: forged, or written without the key",
                    )
                )
            if entry_hash(entry) != entry.hash:
                return report(Break(seq, f"entry {seq} was altered: its content no longer matches its hash"))
            unkeyed += 1
        for checkpoint in pinned.get(seq, ()):
            if checkpoint.hash != entry.hash:
                return report(
                    Break(
                        seq,
                        f"entry {seq} is not the one the checkpoint of {checkpoint.at} signed: the chain was "
                        f"rewritten at or before entry {seq}",
                    )
                )
        prev_hash, expected = entry.hash, seq + 1
        count += 1
    last = expected - 1
    if after is not None and after.seq > 0 and prev_hash is None:
        return report(Break(after.seq, f"entry {after.seq}, signed by the checkpoint of {after.at}, is missing"))
    beyond = [c for c in checkpoints if c.seq > last]
    if beyond:
        top = max(beyond, key=lambda c: c.seq)
        missing = f"entry {top.seq} is" if top.seq == last + 1 else f"entries {last + 1} to {top.seq} are"
        return report(
            Break(
                last + 1,
                f"{missing} missing: the checkpoint of {top.at} signed the chain up to entry {top.seq}, "
                f"the log ends at entry {last}",
            )
        )
    if last != head_seq or prev_hash != head_hash:
        return report(Break(expected, f"the chain ends at entry {last} but the head records entry {head_seq}"))
    return report(None)
