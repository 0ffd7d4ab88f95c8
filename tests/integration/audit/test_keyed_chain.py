"""An audit chain that holds against someone who can write the database but has not got the key:
entries are keyed (HMAC-SHA256), the head is signed into checkpoints kept outside the database, and
verification holds the chain against them. A cut tail with the head moved back, or a rewrite with
every later hash recomputed, is named; the untouched chain passes; keys rotate; entries hashed
before keying still verify."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update
from typer.testing import CliRunner

from handoff.audit.service import AuditError, check, checkpoint
from handoff.cli import app
from handoff.context import AppContext
from handoff.deals.service.intake import ingest
from handoff.kernel.audit import NO_KEYS, AuditEntry, AuditKey, AuditKeys, entry_hash
from handoff.kernel.storage import schema
from handoff.kernel.storage.unit_of_work import AuditKeyMissing
from handoff.worker.loop import checkpoint_job
from handoff.worker.scheduler import run_due
from tests.builders import event
from tests.conftest import Clock

T0 = datetime(2026, 11, 1, tzinfo=UTC)
OTHER_KEY = "mallory-guesses-a-key-" + "m" * 32


def deals(ctx: AppContext, first: int, count: int) -> None:
    """`count` deals (every other one blocked), a few audit entries each."""
    ingest(
        ctx,
        [
            event(f"e{i}", T0, deal_id=f"D-{i}", **({"po_number": ""} if i % 2 else {}))
            for i in range(first, first + count)
        ],
    )


def head(ctx: AppContext) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(schema.audit_head.c.seq)).scalar_one())


def rows(ctx: AppContext, since: int) -> list[AuditEntry]:
    a = schema.audit_log
    columns = [a.c[f.name] for f in dataclasses.fields(AuditEntry)]
    with ctx.engine.connect() as conn:
        return [AuditEntry(*r) for r in conn.execute(select(*columns).where(a.c.seq >= since).order_by(a.c.seq))]


def rewrite(ctx: AppContext, since: int, key: AuditKey | None, reason: str = "nothing to see") -> None:
    """What an insider with write access does: edit entry `since`, recompute it and every later
    hash (with `key`, or unkeyed), and move the head along."""
    prev = rows(ctx, since - 1)[0].hash if since > 1 else "0" * 64
    stored = rows(ctx, since)
    with ctx.engine.begin() as conn:
        for entry in stored:
            forged = dataclasses.replace(
                entry,
                prev_hash=prev,
                reason=reason if entry.seq == since else entry.reason,
                key_id=key.id if key else "",
                hash="",
            )
            prev = entry_hash(forged, key)
            values = {"reason": forged.reason, "prev_hash": forged.prev_hash, "hash": prev, "key_id": forged.key_id}
            conn.execute(update(schema.audit_log).where(schema.audit_log.c.seq == entry.seq).values(values))
        conn.execute(update(schema.audit_head).values(hash=prev, key_id=key.id if key else ""))


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def trail(ctx: AppContext) -> int:
    deals(ctx, 1, 8)
    assert check(ctx).broken is None
    count = head(ctx)
    assert count >= 20
    return count


def test_a_cut_tail_with_the_head_moved_back_is_named_against_a_checkpoint(
    ctx: AppContext, trail: int, tmp_path: Path, db_url: str
) -> None:
    signed = checkpoint(ctx, tmp_path)
    assert signed is not None and (signed.seq, signed.key_id) == (trail, ctx.audit_keys.ids[0])
    kept = trail - 10
    with ctx.engine.begin() as conn:
        conn.execute(delete(schema.audit_log).where(schema.audit_log.c.seq > kept))
        last = conn.execute(select(schema.audit_log.c.hash).where(schema.audit_log.c.seq == kept)).scalar_one()
        conn.execute(update(schema.audit_head).values(seq=kept, hash=last))
    assert check(ctx).broken is None  # inside the database the cut leaves no trace: hence the checkpoints
    broken = check(ctx, [tmp_path]).broken
    assert broken is not None and broken.seq == kept + 1
    assert f"entries {kept + 1} to {trail} are missing" in broken.reason
    code, said = cli("audit", "verify", "--db", db_url, "--checkpoints", str(tmp_path))
    assert code == 1 and f"broken at entry {kept + 1}" in said and f"entries {kept + 1} to {trail} are missing" in said
    with pytest.raises(AuditError, match="nothing signed"):  # the next checkpoint refuses to vouch for it
        checkpoint(ctx, tmp_path)


@pytest.mark.parametrize("forger", ["unkeyed", "another key"])
def test_an_edited_row_with_every_later_hash_recomputed_without_the_key_fails(
    ctx: AppContext, trail: int, forger: str
) -> None:
    target = trail // 2
    rewrite(
        ctx,
        target,
        None if forger == "unkeyed" else dataclasses.replace(AuditKey.of(OTHER_KEY), id=ctx.audit_keys.ids[0]),
    )
    broken = check(ctx).broken
    assert broken is not None and broken.seq == target
    expected = "not keyed although earlier entries are" if forger == "unkeyed" else "was altered"
    assert expected in broken.reason


def test_a_chain_rewritten_unkeyed_from_its_first_entry_fails_against_a_checkpoint(
    ctx: AppContext, trail: int, tmp_path: Path
) -> None:
    checkpoint(ctx, tmp_path)
    rewrite(ctx, 1, None)  # indistinguishable from a chain written before keying, but for the checkpoint
    broken = check(ctx, [tmp_path]).broken
    assert broken is not None and broken.seq == trail and "rewritten at or before" in broken.reason


def test_a_forged_or_damaged_checkpoint_is_reported(ctx: AppContext, trail: int, tmp_path: Path) -> None:
    checkpoint(ctx, tmp_path)
    [file] = tmp_path.glob("audit-checkpoint-*.json")
    data = json.loads(file.read_text())
    file.write_text(json.dumps({**data, "seq": trail - 10}))
    broken = check(ctx, [tmp_path]).broken
    assert broken is not None and "signature that does not verify" in broken.reason
    file.write_text("{not json")
    with pytest.raises(AuditError, match="not a readable audit checkpoint"):
        check(ctx, [tmp_path])


def test_the_untouched_chain_passes_against_every_checkpoint(
    ctx: AppContext, clock: Clock, trail: int, tmp_path: Path, db_url: str
) -> None:
    job = checkpoint_job(tmp_path, minutes=15)
    assert run_due(ctx, [job], "w1") and len(list(tmp_path.glob("*.json"))) == 1
    assert run_due(ctx, [job], "w2") == []  # once per period, however many workers
    clock.advance(minutes=15)
    run_due(ctx, [job], "w1")
    assert len(list(tmp_path.glob("*.json"))) == 1  # nothing appended: nothing new to sign
    deals(ctx, 100, 3)
    clock.advance(minutes=15)
    run_due(ctx, [job], "w1")
    assert len(list(tmp_path.glob("*.json"))) == 2
    deals(ctx, 200, 2)  # after the last checkpoint: covered by the chain alone until the next one
    found = check(ctx, [tmp_path])
    assert found.broken is None and found.checkpoints == 2 and found.unkeyed == 0
    assert found.newest is not None and found.newest.seq < found.entries == head(ctx)
    code, said = cli("audit", "verify", "--db", db_url, "--checkpoints", str(tmp_path))
    assert code == 0 and f"{found.entries} entries verified (keyed)" in said
    assert "held against 2 signed checkpoints" in said
    code, said = cli("audit", "checkpoint", "--db", db_url, env={"HANDOFF_AUDIT_CHECKPOINTS": str(tmp_path)})
    assert code == 0 and f"entry {head(ctx)}" in said and len(list(tmp_path.glob("*.json"))) == 3


def test_the_checkpoint_job_logs_a_broken_chain_and_signs_nothing(
    ctx: AppContext, trail: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(update(schema.audit_log).where(schema.audit_log.c.seq == 3).values(reason="edited"))
    assert run_due(ctx, [checkpoint_job(tmp_path)], "w1")  # the worker's other jobs go on
    assert not list(tmp_path.glob("*.json"))
    assert "audit checkpoint not written: audit chain broken at entry 3" in caplog.text


def test_rotation_old_entries_and_checkpoints_verify_with_the_retired_key(
    ctx: AppContext, trail: int, tmp_path: Path, db_url: str
) -> None:
    old = ctx.audit_keys.current
    assert old is not None
    checkpoint(ctx, tmp_path)
    new_key = "the-new-audit-key-after-rotation-" + "n" * 32
    rotated = dataclasses.replace(ctx, audit_keys=AuditKeys(AuditKey.of(new_key), (old,)))
    deals(rotated, 100, 3)
    assert checkpoint(rotated, tmp_path) is not None  # vouches for the stretch since the old key's checkpoint
    found = check(rotated, [tmp_path])
    assert found.broken is None and found.checkpoints == 2
    with ctx.engine.connect() as conn:
        by_key = dict(
            conn.execute(select(schema.audit_log.c.key_id, func.count()).group_by(schema.audit_log.c.key_id)).all()
        )
    assert by_key == {old.id: trail, AuditKey.of(new_key).id: head(ctx) - trail}
    forgot = dataclasses.replace(ctx, audit_keys=AuditKeys(AuditKey.of(new_key)))
    broken = check(forgot).broken
    assert broken is not None and broken.seq == 1 and f"key {old.id}, which is not configured" in broken.reason
    env = {"HANDOFF_AUDIT_KEY": new_key, "HANDOFF_AUDIT_PREVIOUS_KEYS": old.secret.decode()}
    code, said = cli("audit", "verify", "--db", db_url, "--checkpoints", str(tmp_path), env=env)
    assert code == 0 and "intact" in said
    code, said = cli("audit", "verify", "--db", db_url, env={**env, "HANDOFF_AUDIT_PREVIOUS_KEYS": ""})
    assert code == 1 and "HANDOFF_AUDIT_PREVIOUS_KEYS" in said


def test_entries_from_before_keying_verify_and_a_writer_without_the_key_is_refused(ctx: AppContext) -> None:
    unkeyed = dataclasses.replace(ctx, audit_keys=NO_KEYS)
    deals(unkeyed, 1, 2)  # as written by the release before keying
    before = head(ctx)
    deals(ctx, 10, 2)
    found = check(ctx)
    assert found.broken is None and found.unkeyed == before and found.entries > before
    with pytest.raises(AuditKeyMissing, match="HANDOFF_AUDIT_KEY"):
        deals(unkeyed, 20, 1)
    assert head(ctx) == found.entries  # nothing half-written
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.orders)).scalar_one() == 4
