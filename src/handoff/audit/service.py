"""Audit use cases: verify the chain (against signed checkpoints), sign a checkpoint of its head,
read an entity's history.

A checkpoint is signed only after the chain since the newest checkpoint in its directory has been
verified, so each checkpoint vouches for the stretch up to it and a chain already rewritten is
never signed. `verify` holds the whole chain against every checkpoint it is given: a tail cut off
with the head moved back, or a chain rewritten from its start, disagrees with one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from handoff.audit.channels.directory import CheckpointDirectory, CheckpointError
from handoff.audit.repository import AuditRepository
from handoff.context import AppContext
from handoff.kernel.audit import Break, Checkpoint, check_chain, checkpoint_problem, sign_checkpoint


class AuditError(Exception):
    """A checkpoint that cannot be read or written; the message says why."""


class Verification(NamedTuple):
    entries: int  # as the head records them
    unkeyed: int  # of them hashed without a key (written before the chain was keyed)
    checkpoints: int  # held against the chain
    newest: Checkpoint | None  # the checkpoint furthest along the chain
    broken: Break | None  # the first break; None: intact


def _read(directories: Sequence[Path]) -> list[Checkpoint]:
    try:
        return [c for d in directories for c in CheckpointDirectory(d).read()]
    except CheckpointError as exc:
        raise AuditError(str(exc)) from None


def check(ctx: AppContext, checkpoints_in: Sequence[Path] = ()) -> Verification:
    """Verify the chain with the context's keys, held against the checkpoints in these directories.
    Streams the log, so its size does not matter."""
    checkpoints = _read(checkpoints_in)
    with AuditRepository(ctx.engine).chain() as chain:
        report = check_chain(chain.entries, chain.seq, chain.head_hash, ctx.audit_keys, checkpoints)
    newest = max(checkpoints, key=lambda c: (c.seq, c.at)) if checkpoints else None
    return Verification(chain.seq, report.unkeyed, report.checkpoints, newest, report.broken)


def verify(ctx: AppContext) -> tuple[int, Break | None]:
    """(entries, first break or None) of the chain alone."""
    found = check(ctx)
    return found.entries, found.broken


def head_key(ctx: AppContext) -> str:
    """The key id of the chain's last entry (empty: unkeyed so far)."""
    return AuditRepository(ctx.engine).head_key()


def checkpoint(ctx: AppContext, directory: Path, *, always: bool = False) -> Checkpoint | None:
    """Sign the chain's head into `directory`, after verifying what was appended since the newest
    checkpoint there (the whole chain for the first). None when nothing was appended since and not
    `always`. AuditError when there is no key to sign with, or the chain does not verify."""
    keys = ctx.audit_keys
    if keys.current is None:
        raise AuditError("no audit key to sign a checkpoint with: set HANDOFF_AUDIT_KEY or HANDOFF_AUDIT_KEY_FILE")
    target = CheckpointDirectory(directory)
    try:
        newest = target.newest()
    except CheckpointError as exc:
        raise AuditError(str(exc)) from None
    if newest is not None and (problem := checkpoint_problem(newest, keys)):
        raise AuditError(f"{problem}: nothing signed")
    with AuditRepository(ctx.engine).chain(from_seq=max(newest.seq, 1) if newest else 1) as chain:
        report = check_chain(chain.entries, chain.seq, chain.head_hash, keys, after=newest)
        seq, head_hash = chain.seq, chain.head_hash
    if report.broken is not None:
        raise AuditError(f"audit chain broken at entry {report.broken.seq}: {report.broken.reason}; nothing signed")
    if newest is not None and (newest.seq, newest.hash) == (seq, head_hash) and not always:
        return None
    signed = sign_checkpoint(keys.current, seq, head_hash, ctx.clock().isoformat())
    try:
        target.publish(signed)
    except OSError as exc:
        raise AuditError(f"{directory}: cannot write the checkpoint: {exc.strerror}") from None
    return signed


def history(ctx: AppContext, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    return [e._asdict() for e in AuditRepository(ctx.engine).history(entity_type, entity_id)]
